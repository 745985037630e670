"""The input assessment's configuration and its verdict, without torch.

The gate's numbers (the scope classifier's probabilities, the feature distance and typicality) come from
torch in training (:class:`ml.model.gate.Gate`) and from numpy and ONNX Runtime in the service
(:mod:`ml.engine.gate`); both turn them into an :class:`Assessment` here, with the same thresholds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Final

import numpy as np

from ml.model.checks import CheckLimits, ImageFacts, Reason, cheap_reasons
from ml.model.layout import SCOPE_CLASSES, SCOPE_SIZE, SCOPE_WIDTHS
from ml.model.monitor import MonitorConfig, SourceWindow, WindowState

GATE_FORMAT: Final = "cxr-gate/1"
TENSOR_PREFIX: Final = "gate."
SCOPE_PREFIX: Final = TENSOR_PREFIX + "scope."
DISTANCE_PREFIX: Final = TENSOR_PREFIX + "distance."
_SCOPE_REASONS: Final = {
    "inverted": Reason.INVERTED_POLARITY,
    "rotated": Reason.WRONG_ORIENTATION,
    "other": Reason.NOT_FRONTAL_CHEST_XRAY,
}


@dataclass(frozen=True)
class Thresholds:
    min_chest_xray: float
    """Below this scope probability of a frontal chest X-ray the image is out of scope."""
    max_distance: float
    """Above this feature-distance score the image is out of scope (far from all validation data)."""
    min_typicality: float
    """Below this typicality an in-scope answer is uncertain."""
    min_confidence: float
    """Below this calibrated top probability an in-scope answer is uncertain (where no class has its own)."""
    min_class_confidence: tuple[float, ...] = ()
    """One threshold per class, in the classifier's class order, applied to the answer's class instead of
    ``min_confidence``. Each class's own low-confidence tail is flagged: a single threshold spends the
    uncertain budget on the class the model is least sure of in distribution (Viral Pneumonia), while the
    confident errors on other hospitals' films are Normal and COVID answers (docs/assessment.md)."""

    def confidence_floor(self, predicted: int) -> float:
        """The confidence below which an answer of class ``predicted`` is uncertain."""
        return self.min_class_confidence[predicted] if self.min_class_confidence else self.min_confidence


@dataclass(frozen=True)
class GateConfig:
    thresholds: Thresholds
    checks: CheckLimits = field(default_factory=CheckLimits)
    scope_size: int = SCOPE_SIZE
    scope_widths: tuple[int, ...] = SCOPE_WIDTHS
    fitted: dict[str, Any] = field(default_factory=dict)
    """How the thresholds were chosen and what they gave on the validation split."""
    monitor: MonitorConfig | None = None
    """The source-shift monitor's window and thresholds (:mod:`ml.model.monitor`); None in files from
    before 1.5.0, whose answers then carry no familiarity and no site alarm."""

    def to_json(self) -> str:
        return json.dumps({"format": GATE_FORMAT, **asdict(self)})

    @classmethod
    def from_json(cls, text: str) -> GateConfig:
        data = json.loads(text)
        if data.pop("format", None) != GATE_FORMAT:
            raise ValueError(f"not a {GATE_FORMAT} gate")
        thresholds = data["thresholds"]
        thresholds["min_class_confidence"] = tuple(thresholds.get("min_class_confidence", ()))
        monitor = data.get("monitor")
        return cls(
            thresholds=Thresholds(**thresholds),
            checks=CheckLimits(**data.get("checks", {})),
            scope_size=int(data["scope_size"]),
            scope_widths=tuple(int(w) for w in data["scope_widths"]),
            fitted=dict(data.get("fitted", {})),
            monitor=MonitorConfig.from_dict(monitor) if monitor is not None else None,
        )


def distance_layers(names: Iterable[str], prefix: str = DISTANCE_PREFIX) -> int:
    """How many feature layers the saved distance tensors named ``names`` measure: as many as were fitted,
    one per block of the classifier they were fitted on."""
    return sum(name.startswith(f"{prefix}layer") and name.endswith(".means") for name in names)


@dataclass(frozen=True)
class Assessment:
    in_scope: bool
    uncertain: bool
    reasons: tuple[Reason, ...]
    scores: dict[str, float | None]
    """``chest_xray`` (scope probability), ``typicality``, ``confidence`` and ``familiarity`` (the
    source-shift monitor's per-answer score, :mod:`ml.model.monitor`); None where not computed."""

    def with_reason(self, reason: Reason) -> Assessment:
        """This verdict with one more finding: an in-scope answer becomes uncertain."""
        if reason in self.reasons:
            return self
        return replace(self, uncertain=self.in_scope, reasons=(*self.reasons, reason))


def judge(
    config: GateConfig,
    facts: ImageFacts,
    scope_input: np.ndarray,
    scope_probs: np.ndarray,
    distance: float,
    typicality: float,
    confidence: float,
    predicted: int,
    familiarity: float | None = None,
) -> Assessment:
    """One image's verdict: ``scope_input`` ``[1, s, s]``, ``scope_probs`` ``[len(SCOPE_CLASSES)]``;
    ``confidence`` is the calibrated probability of the answer, class ``predicted``; ``familiarity`` its
    monitor score, where the gate carries a monitor."""
    t = config.thresholds
    reasons = cheap_reasons(facts, scope_input, config.checks)
    chest = float(scope_probs[0])
    if chest < t.min_chest_xray:
        worst = SCOPE_CLASSES[1 + int(np.argmax(scope_probs[1:]))]
        reasons.append(_SCOPE_REASONS[worst])
    if distance > t.max_distance:
        reasons.append(Reason.FAR_FROM_TRAINING_DATA)
    in_scope = not reasons
    if in_scope:
        if confidence < t.confidence_floor(predicted):
            reasons.append(Reason.LOW_CONFIDENCE)
        if typicality < t.min_typicality:
            reasons.append(Reason.ATYPICAL_FOR_TRAINING_DATA)
    scores: dict[str, float | None] = {
        "chest_xray": round(chest, 4),
        "typicality": round(typicality, 4),
        "confidence": round(confidence, 4),
        "familiarity": None if familiarity is None else round(familiarity, 4),
    }
    return Assessment(in_scope, in_scope and bool(reasons), tuple(reasons), scores)


def ungated_assessment(facts: ImageFacts, scope_input: np.ndarray, confidence: float) -> Assessment:
    """For weights without a gate: the cheap checks still run, and every in-scope answer is uncertain."""
    reasons = cheap_reasons(facts, scope_input, CheckLimits())
    in_scope = not reasons
    if in_scope:
        reasons.append(Reason.GATE_UNAVAILABLE)
    scores: dict[str, float | None] = {
        "chest_xray": None,
        "typicality": None,
        "confidence": round(confidence, 4),
        "familiarity": None,
    }
    return Assessment(in_scope, in_scope, tuple(reasons), scores)


def counted(window: SourceWindow, assessment: Assessment) -> tuple[Assessment, WindowState]:
    """One answer counted for its site: an in-scope answer's familiarity joins the site's window, and while
    the window's alarm is on the answer carries ``unfamiliar_source``. Returns the answer as the site's
    alarm leaves it, and the window after it."""
    familiarity = assessment.scores.get("familiarity") if assessment.in_scope else None
    state = window.observe(familiarity)
    return (assessment.with_reason(Reason.UNFAMILIAR_SOURCE) if state.alarm else assessment), state
