"""Shift robustness: ``python -m ml robustness --weights W [--weights W2 ...] --data DIR --out DIR``.

A test set whose manifest names its sources (``external-dev``) is also summarised per source.

Each image is decoded once. For the clean image and every shift of :mod:`ml.robustness.shifts` at every
severity,
the shifted image goes through each weights file's own preprocessing (:func:`ml.preprocessing.eval_transform`
with the spec in its metadata), the model and the file's temperature. Accuracy, per-class recall and ECE
per condition go to ``metrics.json``, ``report.md`` and ``robustness.png``.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml.classes import CLASSES
from ml.data import decode_gray, select_samples
from ml.device import resolve_device
from ml.evaluation.metrics import classification_report
from ml.evaluation.sources import has_sources, suite_by_source
from ml.model import LoadedWeights, PaperCNN, file_sha256, load_weights
from ml.preprocessing import PreprocessSpec, eval_transform
from ml.robustness.report import plot_robustness, render_report
from ml.robustness.shifts import SEVERITIES, SHIFTS, apply_shift

logger = logging.getLogger(__name__)

CLEAN = "clean"
Condition = tuple[str, int]
"""(shift name, severity); the clean baseline is ``("clean", 0)``."""


@dataclass
class Entry:
    """One weights file under test."""

    label: str
    path: Path
    loaded: LoadedWeights

    @property
    def spec(self) -> PreprocessSpec:
        return self.loaded.metadata.preprocessing


def conditions(shifts: list[str]) -> list[Condition]:
    return [(CLEAN, 0)] + [(name, severity) for name in shifts for severity in SEVERITIES]


def shift_rng(seed: int, name: str, severity: int, index: int) -> np.random.Generator:
    """A generator per (shift, severity, image), so a result does not depend on which shifts ran."""
    return np.random.default_rng([seed, zlib.crc32(name.encode()), severity, index])


def _labels(paths: list[Path]) -> list[str]:
    labels: list[str] = []
    for path in paths:
        label, n = path.stem, 2
        while label in labels:
            label, n = f"{path.stem}-{n}", n + 1
        labels.append(label)
    return labels


@torch.no_grad()
def _forward(model: PaperCNN, x: torch.Tensor, device: torch.device) -> np.ndarray:
    x = x.to(device).contiguous(memory_format=torch.channels_last)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        return model(x).float().cpu().numpy()  # type: ignore[no-any-return]


def run_suite(
    entries: list[Entry],
    images: list[np.ndarray],
    conds: list[Condition],
    seed: int,
    device: torch.device,
    batch_size: int = 64,
) -> dict[str, dict[Condition, np.ndarray]]:
    """Logits ``[N, classes]`` per weights label and condition."""
    models = {
        e.label: e.loaded.model.to(device).to(memory_format=torch.channels_last).eval() for e in entries
    }
    specs: dict[PreprocessSpec, list[str]] = {}
    for e in entries:
        specs.setdefault(e.spec, []).append(e.label)
    out: dict[str, dict[Condition, np.ndarray]] = {e.label: {} for e in entries}
    for k, (name, severity) in enumerate(conds):
        start = time.perf_counter()
        chunks: dict[str, list[np.ndarray]] = {e.label: [] for e in entries}
        for lo in range(0, len(images), batch_size):
            batch = [
                image
                if name == CLEAN
                else apply_shift(image, name, severity, shift_rng(seed, name, severity, i))
                for i, image in enumerate(images[lo : lo + batch_size], start=lo)
            ]
            for spec, labels in specs.items():
                x = torch.stack([eval_transform(torch.from_numpy(image), spec) for image in batch])
                for label in labels:
                    chunks[label].append(_forward(models[label], x, device))
        for label, parts in chunks.items():
            out[label][(name, severity)] = np.concatenate(parts) if parts else np.zeros((0, len(CLASSES)))
        logger.info("[%d/%d] %s %d: %.1f s", k + 1, len(conds), name, severity, time.perf_counter() - start)
    return out


def condition_metrics(logits: np.ndarray, labels: np.ndarray, temperature: float) -> dict[str, Any]:
    report = classification_report(logits, labels, list(CLASSES), temperature)
    return {
        "accuracy": report["accuracy"],
        "recall": {name: report["per_class"][name]["recall"] for name in CLASSES},
        "ece": report["ece"],
        "macro_f1": report["macro_f1"],
    }


def summarize(per_condition: dict[Condition, dict[str, Any]], shifts: list[str]) -> dict[str, Any]:
    """Clean accuracy, per-shift means over severities, the suite's mean and its worst shift."""
    per_shift: dict[str, dict[str, Any]] = {
        name: {
            "mean_accuracy": float(np.mean([per_condition[(name, s)]["accuracy"] for s in SEVERITIES])),
            "mean_ece": float(np.mean([per_condition[(name, s)]["ece"] for s in SEVERITIES])),
            "severities": {str(s): per_condition[(name, s)] for s in SEVERITIES},
        }
        for name in shifts
    }
    summary: dict[str, Any] = {"clean": per_condition[(CLEAN, 0)], "shifts": per_shift}
    if shifts:
        worst = min(shifts, key=lambda n: per_shift[n]["mean_accuracy"])
        summary["suite_mean_accuracy"] = float(np.mean([v["mean_accuracy"] for v in per_shift.values()]))
        summary["worst_shift"] = {"name": worst, "mean_accuracy": per_shift[worst]["mean_accuracy"]}
    return summary


def main(
    weights: list[Path],
    data_dir: Path,
    out: Path,
    split: Path | None = None,
    subset: str = "val",
    limit: int = 300,
    shifts: list[str] | None = None,
    seed: int = 0,
    device: str = "auto",
    batch_size: int = 64,
) -> dict[str, Any]:
    names = shifts or list(SHIFTS)
    unknown = [n for n in names if n not in SHIFTS]
    if unknown:
        raise SystemExit(f"unknown shift(s) {', '.join(unknown)}; known: {', '.join(SHIFTS)}")
    entries = [
        Entry(label, path, load_weights(path, expected_classes=list(CLASSES)))
        for label, path in zip(_labels(weights), weights, strict=True)
    ]
    dev = resolve_device(device, setting="--device")
    samples, manifest_sha = select_samples(data_dir, split, subset, limit, seed)
    labels = np.array([s.label for s in samples])
    logger.info("decoding %d images", len(samples))
    images = [decode_gray(s.path) for s in samples]
    conds = conditions(names)
    logits = run_suite(entries, images, conds, seed, dev, batch_size)
    results = {}
    for e in entries:
        temperature = e.loaded.metadata.temperature
        per_condition = {c: condition_metrics(logits[e.label][c], labels, temperature) for c in conds}
        results[e.label] = summarize(per_condition, names)
        if has_sources(samples):
            sources = [s.source for s in samples]
            results[e.label]["sources"] = suite_by_source(logits[e.label], labels, sources, temperature)
    metrics: dict[str, Any] = {
        "n": len(samples),
        "support": {name: int((labels == k).sum()) for k, name in enumerate(CLASSES)},
        "data": {"manifest_sha256": manifest_sha, "split": str(split) if split else None, "subset": subset},
        "limit": limit,
        "seed": seed,
        "weights": [
            {
                "label": e.label,
                "file": str(e.path),
                "sha256": file_sha256(e.path),
                "name": e.loaded.metadata.name,
                "version": e.loaded.metadata.version,
                "temperature": e.loaded.metadata.temperature,
                "preprocessing": e.spec.to_dict(),
            }
            for e in entries
        ],
        "shifts": {
            n: {"description": SHIFTS[n].description, "levels": list(SHIFTS[n].levels)} for n in names
        },
        "results": results,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (out / "report.md").write_text(render_report(metrics))
    plot_robustness(out / "robustness.png", metrics)
    for label, r in results.items():
        logger.info(
            "%s: clean %.4f, suite mean %s, worst %s",
            label,
            r["clean"]["accuracy"],
            f"{r['suite_mean_accuracy']:.4f}" if names else "n/a",
            r.get("worst_shift", {}).get("name", "n/a"),
        )
    logger.info("wrote %s", out)
    return metrics
