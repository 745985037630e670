"""A site run's figures (``summary.json``): the films read, the monitor's stream, the answers and flags,
and, with labels, the metrics against them."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from ml.decoding import SERVED_KINDS
from ml.model.checks import Reason
from ml.site.run import FilmResult, SiteRun
from ml.site.served import ServedModel
from ml.site.stats import Proportion, labelled_metrics, mean_estimate, percentile_among, stream_figures

FAMILIAR_MEAN = 0.5
"""What a familiar film's familiarity, typicality and confidence percentile average (each a percentile
among validation answers), where the weights record nothing else."""


def scores(films: list[FilmResult], name: str) -> np.ndarray:
    """One assessment score of every film (NaN where it has none)."""
    values = [film.assessment.scores.get(name) for film in films]
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def confidence_percentiles(model: ServedModel, films: list[FilmResult]) -> np.ndarray | None:
    """Each answer's confidence as a percentile among the monitor's reference answers of its class."""
    familiar = model.gate.familiarity if model.gate is not None else None
    if familiar is None or not films:
        return None
    confidence = np.array([film.probabilities.max() for film in films])
    predicted = np.array([film.predicted for film in films])
    return percentile_among(confidence, predicted, familiar.confidences)


def summarize(model: ServedModel, run: SiteRun, unmatched_labels: int | None) -> dict[str, Any]:
    """``unmatched_labels``: labels CSV rows naming no file read (None: no labels given)."""
    films, classes = run.films, model.classes
    in_scope = [film for film in films if film.assessment.in_scope]
    return {
        "weights": {
            "name": model.metadata.name,
            "version": model.metadata.version,
            "sha256": model.sha256,
            "engine": str(model.engine_name),
            "classes": classes,
        },
        "limits": {
            "kinds": sorted(str(kind) for kind in SERVED_KINDS),
            "max_pixels": model.limits.max_pixels,
            "min_side": model.limits.min_side,
        },
        "files": {"found": run.files, "read": len(films), "skipped": dict(run.skipped.most_common())},
        "monitor": _monitor(model, films, len(in_scope)),
        "answers": _answers(films, classes),
        "scores": {
            "typicality": _mean(scores(in_scope, "typicality")),
            "confidence_percentile": _mean(confidence_percentiles(model, in_scope)),
        },
        "labels": _labels(films, classes, unmatched_labels),
        "validation": model.metadata.metrics.get("validation"),
    }


def _mean(values: np.ndarray | None, expected: float = FAMILIAR_MEAN) -> dict[str, Any] | None:
    if values is None:
        return None
    estimate = mean_estimate(values[np.isfinite(values)], expected)
    return estimate.to_dict() if estimate is not None else None


def _monitor(model: ServedModel, films: list[FilmResult], in_scope: int) -> dict[str, Any] | None:
    config = model.monitor
    if config is None:
        return None
    familiar = float(config.fitted.get("familiar_window_mean", FAMILIAR_MEAN))
    return {
        "window": config.window,
        "alarm_below": config.alarm_below,
        "clear_above": config.clear_above,
        "familiar_mean": familiar,
        "in_scope_answers": in_scope,
        "stream": stream_figures([bool(f.window and f.window.alarm) for f in films], config.window),
        "flagged_after_window": Proportion(
            sum(f.flagged for f in films[config.window :]), len(films[config.window :])
        ).to_dict(),
        "familiarity": _mean(scores([f for f in films if f.assessment.in_scope], "familiarity"), familiar),
    }


def _answers(films: list[FilmResult], classes: list[str]) -> dict[str, Any]:
    n = len(films)
    reasons: Counter[str] = Counter(str(r) for film in films for r in film.assessment.reasons)
    monitor_only = [f for f in films if f.assessment.reasons == (Reason.UNFAMILIAR_SOURCE,)]
    return {
        "per_class": {name: sum(f.predicted == k for f in films) for k, name in enumerate(classes)},
        "in_scope": Proportion(sum(f.assessment.in_scope for f in films), n).to_dict(),
        "uncertain": Proportion(sum(f.assessment.uncertain for f in films), n).to_dict(),
        "flagged": Proportion(sum(f.flagged for f in films), n).to_dict(),
        "flagged_by_the_monitor_alone": Proportion(len(monitor_only), n).to_dict(),
        "reasons": {str(reason): reasons[str(reason)] for reason in Reason if reasons[str(reason)]},
    }


def _labels(films: list[FilmResult], classes: list[str], unmatched: int | None) -> dict[str, Any] | None:
    labelled = [film for film in films if film.label is not None]
    if unmatched is None or not labelled:
        return None
    labels = np.array([film.label for film in labelled])
    probs = np.stack([film.probabilities for film in labelled])
    figures = labelled_metrics(probs, labels, classes)
    right = probs.argmax(axis=1) == labels
    flagged = np.array([film.flagged for film in labelled])
    return {
        "labelled": len(labelled),
        "unlabelled": len(films) - len(labelled),
        "unmatched_rows": unmatched,
        **figures,
        "accuracy_flagged": Proportion(int(right[flagged].sum()), int(flagged.sum())).to_dict(),
        "accuracy_unflagged": Proportion(int(right[~flagged].sum()), int((~flagged).sum())).to_dict(),
    }
