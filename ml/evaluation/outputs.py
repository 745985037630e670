"""What a finished run writes: calibrated weights, ``metrics.json``, plots and the Markdown report."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from ml import __version__
from ml.classes import CLASSES
from ml.evaluation.metrics import classification_report, fit_temperature
from ml.evaluation.plots import plot_confusion, plot_history, plot_reliability, plot_roc
from ml.evaluation.report import write_report
from ml.evaluation.sources import per_source, render_ranking, render_sources, source_ranking
from ml.model import WeightsMetadata, save_weights
from ml.preprocessing import PreprocessSpec
from ml.training.config import TrainConfig

logger = logging.getLogger(__name__)

WEIGHTS_NAME = "model.safetensors"


def summarize(report: dict[str, Any]) -> dict[str, Any]:
    """The figures kept in the weights' metadata (the full report lives in ``metrics.json``)."""
    return {
        "n": report["n"],
        "accuracy": report["accuracy"],
        "macro_f1": report["macro_f1"],
        "ece": report["ece"],
        "per_class": {
            k: {m: v[m] for m in ("precision", "recall", "f1", "roc_auc")}
            for k, v in report["per_class"].items()
        },
    }


def write_history(path: Path, history: list[dict[str, float]]) -> None:
    """``history.csv``: one row per epoch, as the run logged it."""
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)


def write_eval_outputs(
    out: Path,
    logits: np.ndarray,
    labels: np.ndarray,
    temperature: float,
    title: str,
    sources: list[str] | None = None,
) -> dict[str, Any]:
    """metrics.json (raw and calibrated), plots and report.md for one set of logits.

    With ``sources`` (one per image), the results per source go into both (:mod:`ml.evaluation.sources`).
    """
    out.mkdir(parents=True, exist_ok=True)
    classes = list(CLASSES)
    raw = classification_report(logits, labels, classes)
    calibrated = classification_report(logits, labels, classes, temperature)
    metrics = dict(calibrated)
    metrics["uncalibrated"] = {"ece": raw["ece"], "nll": raw["nll"]}
    if sources is not None:
        metrics["sources"] = per_source(logits, labels, sources, temperature)
        metrics["source_ranking"] = source_ranking(logits, labels, sources, temperature)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    plot_confusion(out / "confusion_matrix.png", np.array(calibrated["confusion_matrix"]), classes)
    plot_roc(out / "roc.png", logits, labels, classes)
    plot_reliability(out / "reliability.png", logits, labels, temperature)
    write_report(out / "report.md", metrics, title)
    if sources is not None:
        with (out / "report.md").open("a") as fh:
            fh.write("\n" + render_sources(metrics["sources"]))
            fh.write("\n" + render_ranking(metrics["source_ranking"]))
    return metrics


def finalize_run(
    out: Path,
    model: nn.Module,
    cfg: TrainConfig,
    spec: PreprocessSpec,
    val_logits: np.ndarray,
    val_labels: np.ndarray,
    history: list[dict[str, float]],
    manifest_sha256: str,
    split_sha256: str,
) -> Path:
    """Fit the temperature on validation, then write the weights, metrics, plots and report."""
    temperature = fit_temperature(val_logits, val_labels)
    logger.info("temperature fitted on validation: %.3f", temperature)
    metrics = write_eval_outputs(out, val_logits, val_labels, temperature, f"Validation ({cfg.preset})")
    plot_history(out / "curves.png", history)
    best_epoch = max(history, key=lambda r: r["val_accuracy"])["epoch"] if history else 0
    metadata = WeightsMetadata(
        architecture=cfg.architecture,
        classes=list(CLASSES),
        preprocessing=spec,
        temperature=temperature,
        version=__version__,
        name=f"cxr-{cfg.architecture.replace('_', '-')}",
        training={"config": cfg.to_dict(), "best_epoch": best_epoch, "split_sha256": split_sha256},
        metrics={
            "validation": summarize(metrics),
            "validation_uncalibrated_ece": metrics["uncalibrated"]["ece"],
        },
        data_manifest_sha256=manifest_sha256,
    )
    path = out / WEIGHTS_NAME
    sha = save_weights(path, model, metadata)
    logger.info("wrote %s (sha256 %s), val accuracy %.4f", path, sha, metrics["accuracy"])
    return path
