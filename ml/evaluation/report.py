"""The Markdown evaluation report, with the paper's figures beside ours."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ml.classes import CLASSES, POSITIVE_CLASS

PAPER = {"accuracy": 0.9717, "precision": 0.9522, "recall": 0.9365, "f1": 0.9443}
"""Lim & Lim's test-set figures (overall accuracy; COVID precision, recall and F1)."""


def _fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def render_report(metrics: dict[str, Any], title: str) -> str:
    covid = metrics["per_class"][POSITIVE_CLASS]
    lines = [
        f"# {title}",
        "",
        f"{metrics['n']} images. Probabilities calibrated with temperature {metrics['temperature']:.3f}.",
        "",
        "| metric | paper (Lim & Lim, image-level test split) | this model |",
        "| --- | --- | --- |",
        f"| accuracy | {PAPER['accuracy']:.4f} | {_fmt(metrics['accuracy'])} |",
        f"| COVID precision | {PAPER['precision']:.4f} | {_fmt(covid['precision'])} |",
        f"| COVID recall | {PAPER['recall']:.4f} | {_fmt(covid['recall'])} |",
        f"| COVID F1 | {PAPER['f1']:.4f} | {_fmt(covid['f1'])} |",
        "",
        "## Per class",
        "",
        "| class | precision | recall | F1 | ROC AUC | support |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name in CLASSES:
        c = metrics["per_class"][name]
        lines.append(
            f"| {name} | {_fmt(c['precision'])} | {_fmt(c['recall'])} | {_fmt(c['f1'])} | "
            f"{_fmt(c['roc_auc'])} | {c['support']} |"
        )
    lines += [
        "",
        "## Confusion matrix (rows: true, columns: predicted)",
        "",
        "| | " + " | ".join(CLASSES) + " |",
        "| --- " * (len(CLASSES) + 1) + "|",
    ]
    for name, row in zip(CLASSES, metrics["confusion_matrix"], strict=True):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    uncal = metrics.get("uncalibrated", {})
    lines += [
        "",
        "## Calibration",
        "",
        f"Expected calibration error (15 bins, top label): {_fmt(uncal.get('ece'))} before temperature "
        f"scaling, {_fmt(metrics['ece'])} after. Negative log-likelihood: {_fmt(uncal.get('nll'))} before, "
        f"{_fmt(metrics['nll'])} after.",
        "",
        "Plots: `confusion_matrix.png`, `roc.png`, `reliability.png` (and `curves.png` for a training run).",
        "",
    ]
    return "\n".join(lines)


def write_report(path: Path, metrics: dict[str, Any], title: str) -> None:
    path.write_text(render_report(metrics, title))
