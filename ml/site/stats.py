"""The figures of a site validation, in numpy: intervals, labelled metrics, calibration and the stream.

Proportions get Wilson score intervals (95%): they stay inside [0, 1] and mean something for small counts
and for 0 or 100%. The set's mean familiarity gets a normal interval from its own spread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Final

import numpy as np

from ml.evaluation.metrics import ECE_BINS, confusion_matrix, expected_calibration_error

Z95: Final = 1.959963984540054
"""The standard normal's 97.5% quantile: two-sided 95% intervals."""


def wilson(hits: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of ``hits`` out of ``n`` (``(0, 1)`` when ``n`` is 0)."""
    if n == 0:
        return 0.0, 1.0
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Proportion:
    hits: int
    n: int

    @property
    def value(self) -> float | None:
        return self.hits / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.hits, self.n)

    def to_dict(self) -> dict[str, Any]:
        low, high = self.interval
        return {"value": self.value, "low": low, "high": high, "hits": self.hits, "n": self.n}


@dataclass(frozen=True)
class MeanEstimate:
    """A set's mean score against what familiar films average."""

    mean: float
    sd: float
    n: int
    expected: float

    @property
    def interval(self) -> tuple[float, float]:
        half = Z95 * self.sd / math.sqrt(self.n) if self.n > 1 else math.inf
        return self.mean - half, self.mean + half

    @property
    def z(self) -> float | None:
        """How many standard errors the mean lies from ``expected`` (negative: below)."""
        if self.n < 2 or self.sd == 0:
            return None
        return (self.mean - self.expected) / (self.sd / math.sqrt(self.n))

    def to_dict(self) -> dict[str, Any]:
        low, high = self.interval
        return {
            "mean": self.mean,
            "low": low if math.isfinite(low) else None,
            "high": high if math.isfinite(high) else None,
            "sd": self.sd,
            "n": self.n,
            "expected": self.expected,
            "z": self.z,
        }


def mean_estimate(values: np.ndarray, expected: float) -> MeanEstimate | None:
    if len(values) == 0:
        return None
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return MeanEstimate(float(np.mean(values)), sd, len(values), expected)


def labelled_metrics(probs: np.ndarray, labels: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Accuracy, per-class precision and recall with intervals, the confusion matrix (rows true), the
    top-label ECE and its reliability bins, for answers ``probs`` ``[N, K]`` against ``labels`` ``[N]``."""
    preds = probs.argmax(axis=1)
    matrix = confusion_matrix(labels, preds, len(classes))
    per_class = {}
    for k, name in enumerate(classes):
        tp = int(matrix[k, k])
        per_class[name] = {
            "precision": Proportion(tp, int(matrix[:, k].sum())).to_dict(),
            "recall": Proportion(tp, int(matrix[k, :].sum())).to_dict(),
        }
    return {
        "n": len(labels),
        "accuracy": Proportion(int((preds == labels).sum()), len(labels)).to_dict(),
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
        "ece": expected_calibration_error(probs, labels),
        "reliability": reliability_bins(probs, labels),
    }


def reliability_bins(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> list[dict[str, Any]]:
    """The bins :func:`~ml.evaluation.metrics.expected_calibration_error` sums over: each non-empty one's
    mean confidence and accuracy (with its interval)."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    out = []
    for lo, hi in pairwise(np.linspace(0.0, 1.0, bins + 1)):
        mask = (confidence > lo) & (confidence <= hi)
        if mask.any():
            hits = Proportion(int(correct[mask].sum()), int(mask.sum())).to_dict()
            out.append(
                {"low": float(lo), "high": float(hi), "confidence": float(confidence[mask].mean()), **hits}
            )
    return out


def stream_figures(alarms: list[bool], window: int) -> dict[str, Any]:
    """When the site's alarm first came on (1-based answer, None if never) and on how many answers after
    the first ``window`` it was on."""
    first = next((i + 1 for i, on in enumerate(alarms) if on), None)
    after = alarms[window:]
    return {
        "answers": len(alarms),
        "window": window,
        "first_alarm": first,
        "alarm_after_window": Proportion(sum(after), len(after)).to_dict(),
    }


def percentile_among(values: np.ndarray, classes: np.ndarray, references: list[np.ndarray]) -> np.ndarray:
    """Each value's share among the sorted reference of its class that is at most it."""
    out = np.full(len(values), np.nan)
    for k, reference in enumerate(references):
        mask = classes == k
        out[mask] = np.searchsorted(reference, values[mask], side="right") / len(reference)
    return out
