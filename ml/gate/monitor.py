"""Fit the source-shift monitor of a gated weights file (:mod:`ml.model.monitor`).

**Reference.** The validation side's ``select`` half: the images the input assessment's thresholds were not
chosen on (those are the ``assess`` half's, :mod:`ml.gate.fit`). Its in-scope answers, with their feature
distances and calibrated confidences, become the per-class reference.

**Thresholds.** The statistic is computed over windows of the reference's own answers, each answer's
familiarity taken among the *other* reference answers (leave one out, so no answer judges itself):

- in the database's manifest order, pooled and class by class. The database keeps each source's films
  together (the children's normals, one hospital's COVID films), so these windows stand in for a familiar
  hospital sending only its own films, which a random order would never show;
- in random orders, pooled and per answered class: a familiar mixed stream, and a run of one class.

``alarm_below`` is the lower of the two orders' :attr:`MonitorTargets.alarm_quantile` quantiles of the
windows' means;
``clear_above`` the :attr:`MonitorTargets.clear_quantile` quantile of the random ones, so that once on, the
alarm holds until the window looks like an ordinary familiar one again.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ml.data import Sample
from ml.gate.data import decode_samples, split_sides
from ml.gate.evaluate import assess_images
from ml.model import LoadedWeights
from ml.model.gate import Gate
from ml.model.monitor import Familiarity, MonitorConfig

logger = logging.getLogger(__name__)


class TooFewReferenceAnswersError(ValueError):
    """The reference half holds fewer in-scope answers than one window."""


@dataclass(frozen=True)
class MonitorTargets:
    window: int = 16
    """Answers per window: the alarm can start with a site's 16th in-scope answer."""
    alarm_quantile: float = 0.002
    """Share of familiar windows (both orders) below ``alarm_below``."""
    clear_quantile: float = 0.2
    """Share of familiar random windows below ``clear_above``."""
    random_orders: int = 30
    """Random orders of the reference, pooled and of each answered class."""
    seed: int = 0


@dataclass(frozen=True)
class ReferenceAnswers:
    """The reference images' answers, in the database's manifest order."""

    predicted: np.ndarray
    confidence: np.ndarray
    distance: np.ndarray
    in_scope: np.ndarray
    labels: np.ndarray


def reference_answers(weights: LoadedWeights, samples: list[Sample]) -> ReferenceAnswers:
    """The classifier and its gate on ``samples`` (torch, as ``ml export`` fits the rest of the gate)."""
    if weights.gate is None:
        raise ValueError("the monitor is part of the input assessment; these weights carry none")
    images = decode_samples(manifest_order(samples))
    meta = weights.metadata
    run = assess_images(weights.model, weights.gate, meta.preprocessing, meta.temperature, images.pixels)
    return ReferenceAnswers(
        predicted=run.probs.argmax(axis=1),
        confidence=run.probs.max(axis=1),
        distance=run.distance,
        in_scope=~run.out_of_scope,
        labels=images.labels,
    )


def leave_one_out(
    familiarity: Familiarity, predicted: np.ndarray, distance: np.ndarray, confidence: np.ndarray
) -> np.ndarray:
    """Each reference answer's familiarity among the other reference answers of its class.

    The answers must be those ``familiarity`` was fitted on: each then finds itself once among those at
    least as far and once among those at most as sure, and both counts lose that one."""
    out = np.empty(len(predicted), dtype=np.float64)
    for k in range(familiarity.classes):
        mask = predicted == k
        ref_d, ref_c = familiarity.distances[k], familiarity.confidences[k]
        n = len(ref_d)
        further = n - np.searchsorted(ref_d, distance[mask], side="left") - 1
        less_sure = np.searchsorted(ref_c, confidence[mask], side="right") - 1
        out[mask] = (further + less_sure) / (2 * (n - 1))
    return out


def window_means(scores: np.ndarray, window: int) -> np.ndarray:
    """The mean of every ``window`` consecutive scores (none when fewer)."""
    if len(scores) < window:
        return np.zeros(0)
    sums = np.cumsum(np.concatenate([[0.0], scores]))
    means: np.ndarray = (sums[window:] - sums[:-window]) / window
    return means


def familiar_windows(
    scores: np.ndarray, answers: ReferenceAnswers, targets: MonitorTargets
) -> tuple[np.ndarray, np.ndarray]:
    """Window means of the reference's in-scope answers: (manifest order, random orders)."""
    rng = np.random.default_rng(targets.seed)
    keep = answers.in_scope
    classes = int(max(answers.labels.max(initial=0), answers.predicted.max(initial=0))) + 1
    ordered = [scores[keep]] + [scores[keep & (answers.labels == k)] for k in range(classes)]
    mixed = [rng.permutation(scores[keep]) for _ in range(targets.random_orders)]
    runs = [
        rng.permutation(scores[keep & (answers.predicted == k)])
        for k in range(classes)
        for _ in range(targets.random_orders)
    ]
    manifest = np.concatenate([window_means(s, targets.window) for s in ordered])
    random = np.concatenate([window_means(s, targets.window) for s in mixed + runs])
    return manifest, random


def thresholds(
    manifest: np.ndarray, random: np.ndarray, targets: MonitorTargets, random_only: bool = False
) -> tuple[float, float]:
    """``(alarm_below, clear_above)`` from familiar windows' means (module docstring); ``random_only``
    leaves the manifest order out (a rejected choice, measured by :mod:`ml.studies.source_shift`)."""
    # Each order on its own: pooled, the far more numerous random windows would drown the manifest's.
    orders = (random,) if random_only else (manifest, random)
    alarm_below = min(float(np.quantile(w, targets.alarm_quantile)) for w in orders)
    return alarm_below, max(alarm_below, float(np.quantile(random, targets.clear_quantile)))


def manifest_order(samples: list[Sample]) -> list[Sample]:
    """The database's manifest order, which keeps each source's films together."""
    return sorted(samples, key=lambda s: s.path.as_posix())


def fit_monitor(
    answers: ReferenceAnswers, classes: int, targets: MonitorTargets | None = None
) -> tuple[MonitorConfig, Familiarity]:
    """The reference and the thresholds (module docstring) from the reference half's answers."""
    targets = targets or MonitorTargets()
    keep = answers.in_scope
    if keep.sum() < targets.window:
        raise TooFewReferenceAnswersError(
            f"{int(keep.sum())} in-scope reference answers, fewer than one window of {targets.window}"
        )
    familiarity = Familiarity.fit(
        answers.predicted[keep], answers.distance[keep], answers.confidence[keep], classes
    )
    scores = np.full(len(keep), np.nan)
    scores[keep] = leave_one_out(
        familiarity, answers.predicted[keep], answers.distance[keep], answers.confidence[keep]
    )
    manifest, random = familiar_windows(scores, answers, targets)
    alarm_below, clear_above = thresholds(manifest, random, targets)
    fitted: dict[str, Any] = {
        "reference": "validation select half",
        "reference_answers": int(keep.sum()),
        "per_class": [len(d) for d in familiarity.distances],
        "targets": asdict(targets),
        "manifest_windows": len(manifest),
        "random_windows": len(random),
        "familiar_window_mean": round(float(random.mean()), 4),
    }
    config = MonitorConfig(targets.window, alarm_below, clear_above, fitted)
    return config, familiarity


def with_monitor(
    weights: LoadedWeights, data_dir: Path, split: Path | None, targets: MonitorTargets | None = None
) -> Gate:
    """``weights``' gate with a source-shift monitor fitted on the ``select`` half of ``data_dir``."""
    gate = weights.gate
    if gate is None:
        raise ValueError("the monitor is part of the input assessment; these weights carry none")
    _, (samples, _) = split_sides(data_dir, split)
    logger.info("source-shift monitor: reference answers of %d validation images", len(samples))
    answers = reference_answers(weights, samples)
    config, familiarity = fit_monitor(answers, len(weights.metadata.classes), targets)
    logger.info(
        "monitor: window %d, alarm below %.4f, clear above %.4f",
        config.window,
        config.alarm_below,
        config.clear_above,
    )
    return Gate(replace(gate.config, monitor=config), gate.scope, gate.distance, familiarity)
