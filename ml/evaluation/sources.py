"""Results per source: a test set from several hospitals is read source by source, never as one number.

A model that learned a source's look instead of the disease can score well on the pooled set while failing
a whole hospital; ``external-dev`` (Stony Brook COVID, Hannover COVID, NIH normals) is reported this way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ml.classes import CLASSES
from ml.data import Sample
from ml.evaluation.metrics import roc_auc, softmax

SPECIFICITY = 0.90
"""The share of the other source's images kept below the threshold in :func:`source_ranking`."""


def has_sources(samples: list[Sample]) -> bool:
    """Whether the samples name their sources (a test set's manifest), so a per-source table helps."""
    return any(s.source and s.source not in CLASSES for s in samples)


def source_names(samples: list[Sample]) -> list[str]:
    return sorted({s.source for s in samples})


def per_source(
    logits: np.ndarray, labels: np.ndarray, sources: list[str], temperature: float = 1.0
) -> dict[str, dict[str, Any]]:
    """For each source: its size, accuracy, and the recall, mean top probability and predictions per class."""
    probs = softmax(logits, temperature)
    preds = probs.argmax(1)
    where = np.array(sources)
    out: dict[str, dict[str, Any]] = {}
    for source in sorted(set(sources)):
        mask = where == source
        y, p = labels[mask], preds[mask]
        recall = {name: float((p[y == k] == k).mean()) for k, name in enumerate(CLASSES) if (y == k).any()}
        out[source] = {
            "n": int(mask.sum()),
            "accuracy": float((p == y).mean()),
            "recall": recall,
            "predicted": {name: int((p == k).sum()) for k, name in enumerate(CLASSES)},
            "mean_top_probability": float(probs[mask].max(1).mean()),
        }
    return out


def source_ranking(
    logits: np.ndarray, labels: np.ndarray, sources: list[str], temperature: float = 1.0
) -> list[dict[str, Any]]:
    """How well the model ranks one single-class source above another, whatever the threshold.

    For each source whose images all have one class and each other source of another single class: the
    area under the ROC curve of that class's probability, and the share of the first source found at the
    threshold that leaves ``SPECIFICITY`` of the second below it. A recipe that only moves the boundary
    between two hospitals' looks changes per-source recall in opposite directions and leaves these alone;
    one that learned more of the disease raises them.
    """
    probs = softmax(logits, temperature)
    where = np.array(sources)
    single = {
        source: int(labels[where == source][0])
        for source in sorted(set(sources))
        if len(set(labels[where == source].tolist())) == 1
    }
    out: list[dict[str, Any]] = []
    for positive, k in single.items():
        for negative, j in single.items():
            if j == k:
                continue
            pos, neg = probs[where == positive, k], probs[where == negative, k]
            threshold = float(np.quantile(neg, SPECIFICITY))
            scores = np.concatenate([pos, neg])
            is_pos = np.concatenate([np.ones(len(pos), bool), np.zeros(len(neg), bool)])
            out.append(
                {
                    "class": CLASSES[k],
                    "positive": positive,
                    "negative": negative,
                    "roc_auc": roc_auc(scores, is_pos),
                    "recall_at_specificity": float((pos > threshold).mean()),
                }
            )
    return out


def render_ranking(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of :func:`source_ranking`'s rows (empty when no pair of sources qualifies)."""
    if not rows:
        return ""
    lines = [
        "## One source against another",
        "",
        f"| class | source | against | ROC AUC | recall at {SPECIFICITY:.0%} of the other kept out |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['class']} | {r['positive']} | {r['negative']} | {r['roc_auc']:.3f} | "
            f"{r['recall_at_specificity']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def render_sources(results: dict[str, dict[str, Any]], heading: str = "## Per source") -> str:
    """A Markdown table of :func:`per_source`'s results."""
    lines = [
        heading,
        "",
        "| source | images | accuracy | recall (its classes) | predicted " + " / ".join(CLASSES) + " | "
        "mean top probability |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for source, r in results.items():
        recall = ", ".join(f"{name} {value:.3f}" for name, value in r["recall"].items())
        predicted = " / ".join(str(r["predicted"][name]) for name in CLASSES)
        lines.append(
            f"| {source} | {r['n']} | {r['accuracy']:.3f} | {recall} | {predicted} | "
            f"{r['mean_top_probability']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def suite_by_source(
    logits: dict[tuple[str, int], np.ndarray], labels: np.ndarray, sources: list[str], temperature: float
) -> dict[str, dict[str, Any]]:
    """The robustness suite per source: the clean result and the mean accuracy over the shifted conditions.

    ``logits`` maps each condition ``(shift, severity)`` to its logits; the clean one is ``("clean", 0)``.
    """
    clean = per_source(logits[("clean", 0)], labels, sources, temperature)
    shifted = [
        per_source(v, labels, sources, temperature) for (name, _), v in logits.items() if name != "clean"
    ]
    return {
        source: {
            "clean": result,
            "suite_mean_accuracy": float(np.mean([s[source]["accuracy"] for s in shifted]))
            if shifted
            else None,
        }
        for source, result in clean.items()
    }


def render_suite_by_source(results: dict[str, dict[str, Any]]) -> str:
    """Rows per source, a clean and a suite-mean column per weights label (``results[label]["sources"]``)."""
    labels = [label for label, r in results.items() if "sources" in r]
    if not labels:
        return ""
    header = ["source", *(f"{lb} clean accuracy" for lb in labels), *(f"{lb} suite mean" for lb in labels)]
    lines = ["## Per source", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for source in results[labels[0]]["sources"]:
        rows = [results[lb]["sources"][source] for lb in labels]
        clean = [f"{r['clean']['accuracy']:.4f}" for r in rows]
        mean = [
            "n/a" if r["suite_mean_accuracy"] is None else f"{r['suite_mean_accuracy']:.4f}" for r in rows
        ]
        lines.append("| " + " | ".join([source, *clean, *mean]) + " |")
    return "\n".join(lines) + "\n"
