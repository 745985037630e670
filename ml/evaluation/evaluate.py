"""Evaluate a weights file: ``python -m ml evaluate --weights FILE --data DIR --out DIR``.

Writes ``metrics.json`` (accuracy, per-class precision/recall/F1/support/ROC AUC, confusion matrix, ECE
before and after the file's temperature), PNG plots and ``report.md`` beside the paper's figures. For a
file that carries an input assessment, also ``gate.json``, ``gate.md`` (appended to ``report.md``) and
``risk_coverage.png`` (:mod:`ml.gate.evaluate`). A test set whose manifest names its sources (such as
``external-dev``) is also reported per source (:mod:`ml.evaluation.sources`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ml.classes import CLASSES
from ml.data import decode_all, select_samples
from ml.device import resolve_device
from ml.evaluation.outputs import write_eval_outputs
from ml.evaluation.sources import has_sources
from ml.model import load_weights
from ml.preprocessing import PreprocessSpec, eval_batch

logger = logging.getLogger(__name__)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    images: torch.Tensor,
    spec: PreprocessSpec,
    device: torch.device,
    batch_size: int = 64,
    bf16: bool = False,
) -> np.ndarray:
    """Logits ``[N, classes]`` (float32) for cached images, center-cropped exactly as in serving.

    On a GPU, and on the CPU with ``bf16`` (training's per-epoch check), the model runs in bfloat16.
    Batches of 64: at 256, the first block's float32 activations alone take 1.6 GB.
    """
    model.eval()
    cuda = device.type == "cuda"
    half = cuda or bf16
    out = []
    for start in range(0, len(images), batch_size):
        x = eval_batch(images[start : start + batch_size].to(device).float(), spec)
        if cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=half):
            out.append(model(x).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, len(CLASSES)), dtype=np.float32)


def main(
    weights: Path,
    data_dir: Path,
    out: Path,
    device: str = "auto",
    limit: int = 0,
    split: Path | None = None,
    subset: str = "val",
    seed: int = 0,
    gate_shift_images: int = 300,
    gate_negatives: int = 200,
) -> dict[str, Any]:
    loaded = load_weights(weights, expected_classes=list(CLASSES))
    dev = resolve_device(device, setting="--device")
    samples, _ = select_samples(data_dir, split, subset, limit, seed)
    spec = loaded.metadata.preprocessing
    images = decode_all(samples, spec, min(16, os.cpu_count() or 1))
    labels = np.array([s.label for s in samples])
    model = loaded.model.to(dev)
    logits = evaluate(model, images, spec, dev)
    title = f"Evaluation of {weights.name} on {len(samples)} images"
    sources = [s.source for s in samples] if has_sources(samples) else None
    metrics = write_eval_outputs(out, logits, labels, loaded.metadata.temperature, title, sources)
    logger.info("accuracy %.4f on %d images; wrote %s", metrics["accuracy"], len(samples), out)
    if loaded.gate is not None:
        from ml.gate.data import decode_samples
        from ml.gate.evaluate import evaluate_gate
        from ml.gate.report import write_gate_outputs

        loaded.model.to("cpu")
        results, curves = evaluate_gate(
            loaded,
            decode_samples(samples),
            shift_images=gate_shift_images,
            negatives_per_kind=gate_negatives,
            name=data_dir.name if split is None else ("validation" if subset == "val" else subset),
            sources=sources,
        )
        write_gate_outputs(out, results, curves)
        with (out / "report.md").open("a") as fh:
            fh.write("\n" + (out / "gate.md").read_text())
        metrics["gate"] = results
        logger.info(
            "input assessment: %s", {k: results["validation"][k] for k in ("out_of_scope", "uncertain")}
        )
    return metrics
