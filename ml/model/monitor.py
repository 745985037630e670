"""The source-shift monitor's statistic: whether a stream of answers looks like the training hospitals'.

One film from another hospital often looks ordinary; a run of them does not. Each answer gets a
**familiarity**: the mean of two class-conditional percentiles among the reference answers of the class it
answered (validation images that chose nothing else of the gate):

- the share of those answers whose feature distance (:mod:`ml.model.distance`) is at least this one's;
- the share whose calibrated confidence is at most this one's.

A familiar film scores about 0.5 on average whatever its class, so a run of one class from a familiar source
(a COVID wave) keeps the mean where it was. A site's **statistic** is the mean familiarity of its last
``window`` in-scope answers. The alarm starts when it falls below ``alarm_below`` and ends only when it rises
above ``clear_above`` (hysteresis), both chosen on the reference answers (:mod:`ml.gate.monitor`).

The numbers travel in the weights file: the configuration in the gate header's ``monitor`` entry, the
reference answers as ``gate.monitor.class{k}.distance`` and ``.confidence`` tensors. Everything here is
numpy: the service, ``validate-site`` and the fit share it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

MONITOR_PREFIX: Final = "gate.monitor."


@dataclass(frozen=True)
class MonitorConfig:
    window: int
    """In-scope answers the statistic averages; no alarm before the window is full."""
    alarm_below: float
    """The alarm starts when the statistic falls below this."""
    clear_above: float
    """Once on, the alarm ends only when the statistic rises above this (at least ``alarm_below``)."""
    fitted: dict[str, Any] = field(default_factory=dict)
    """How the reference and the thresholds were chosen, and what they gave."""

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"the monitor's window must hold at least one answer, not {self.window}")
        if not 0.0 <= self.alarm_below <= self.clear_above <= 1.0:
            raise ValueError(
                f"the monitor needs 0 <= alarm_below <= clear_above <= 1, got {self.alarm_below} and "
                f"{self.clear_above}"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MonitorConfig:
        return cls(
            window=int(data["window"]),
            alarm_below=float(data["alarm_below"]),
            clear_above=float(data["clear_above"]),
            fitted=dict(data.get("fitted", {})),
        )


def _tensor_names(index: int) -> tuple[str, str]:
    return f"{MONITOR_PREFIX}class{index}.distance", f"{MONITOR_PREFIX}class{index}.confidence"


def reference_classes(names: Iterable[str]) -> int:
    """How many classes the monitor tensors named ``names`` hold a reference for."""
    return sum(name.startswith(f"{MONITOR_PREFIX}class") and name.endswith(".distance") for name in names)


class Familiarity:
    """Per class, the reference answers' feature distances and confidences, each sorted."""

    def __init__(self, distances: Sequence[np.ndarray], confidences: Sequence[np.ndarray]) -> None:
        if len(distances) != len(confidences) or not distances:
            raise ValueError("the monitor needs one distance and one confidence reference per class")
        self.distances = [np.sort(np.asarray(d, dtype=np.float64)) for d in distances]
        self.confidences = [np.sort(np.asarray(c, dtype=np.float64)) for c in confidences]
        for k, (d, c) in enumerate(zip(self.distances, self.confidences, strict=True)):
            if len(d) != len(c) or len(d) < 2:
                raise ValueError(f"class {k}'s monitor reference needs two or more answers, as many of each")
            if not (np.isfinite(d).all() and np.isfinite(c).all()):
                raise ValueError(f"class {k}'s monitor reference holds non-finite values")

    @property
    def classes(self) -> int:
        return len(self.distances)

    @classmethod
    def fit(
        cls, predicted: np.ndarray, distance: np.ndarray, confidence: np.ndarray, classes: int
    ) -> Familiarity:
        """From reference answers; a class answered fewer than twice borrows every class's answers."""
        everyone = np.ones(len(predicted), dtype=bool)
        chosen = [predicted == k if (predicted == k).sum() >= 2 else everyone for k in range(classes)]
        return cls([distance[m] for m in chosen], [confidence[m] for m in chosen])

    def scores(self, predicted: np.ndarray, distance: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        """Each answer's familiarity ``[N]`` in [0, 1]: about 0.5 for a familiar film, near 0 for a film
        further and less sure than all reference answers of its class."""
        predicted = np.asarray(predicted, dtype=np.int64)
        out = np.empty(len(predicted), dtype=np.float64)
        for k in range(self.classes):
            mask = predicted == k
            if mask.any():
                out[mask] = self._class_scores(k, np.asarray(distance)[mask], np.asarray(confidence)[mask])
        return out

    def score(self, predicted: int, distance: float, confidence: float) -> float:
        return float(self._class_scores(predicted, np.array([distance]), np.array([confidence]))[0])

    def _class_scores(self, k: int, distance: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        ref_d, ref_c = self.distances[k], self.confidences[k]
        n = len(ref_d)
        further = (n - np.searchsorted(ref_d, distance, side="left")) / n
        less_sure = np.searchsorted(ref_c, confidence, side="right") / n
        scores: np.ndarray = (further + less_sure) / 2
        return scores

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for k, (d, c) in enumerate(zip(self.distances, self.confidences, strict=True)):
            name_d, name_c = _tensor_names(k)
            out[name_d], out[name_c] = d.copy(), c.copy()
        return out

    @classmethod
    def from_arrays(cls, tensors: Mapping[str, np.ndarray], classes: int) -> Familiarity:
        """``tensors`` with their ``gate.monitor.`` prefix; a missing class is a ``KeyError``."""
        names = [_tensor_names(k) for k in range(classes)]
        return cls([tensors[d] for d, _ in names], [tensors[c] for _, c in names])


@dataclass
class WindowState:
    """What a site's window says after an answer."""

    answers: int
    """In-scope answers in the window (at most ``window``)."""
    window: int
    statistic: float | None
    """Their mean familiarity once the window is full, else None."""
    alarm: bool


class SourceWindow:
    """One site's last answers and its alarm. Not locked: whoever holds several (the service) locks."""

    def __init__(self, config: MonitorConfig) -> None:
        self.config = config
        self._recent: deque[float] = deque(maxlen=config.window)
        self.alarm = False

    def observe(self, familiarity: float | None) -> WindowState:
        """Add one answer's familiarity (None: out of scope, which leaves the window as it was)."""
        if familiarity is not None:
            self._recent.append(familiarity)
            statistic = self.statistic
            if statistic is not None:
                limit = self.config.clear_above if self.alarm else self.config.alarm_below
                self.alarm = statistic < limit
        return self.state

    @property
    def statistic(self) -> float | None:
        if len(self._recent) < self.config.window:
            return None
        return sum(self._recent) / len(self._recent)

    @property
    def state(self) -> WindowState:
        return WindowState(len(self._recent), self.config.window, self.statistic, self.alarm)
