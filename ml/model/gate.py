"""The input assessment: whether an answer can be trusted, computed beside every prediction.

An image is **out of scope** when a cheap check fails (:mod:`ml.model.checks`), when the scope classifier
(:mod:`ml.model.scope`) does not see a frontal chest X-ray, or when the classifier's features lie far
beyond the validation data (:mod:`ml.model.distance`). An in-scope answer is **uncertain** when its
calibrated confidence is low or its features are atypical of the training data. Every threshold was
chosen on the validation split by ``python -m ml export`` and travels in the weights file, so each model
carries its own gate.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from ml.model.checks import CheckLimits, ImageFacts, Reason, cheap_reasons
from ml.model.distance import FeatureDistance
from ml.model.scope import SCOPE_CLASSES, SCOPE_SIZE, SCOPE_WIDTHS, ScopeNet

GATE_FORMAT = "cxr-gate/1"
TENSOR_PREFIX = "gate."
_SCOPE_PREFIX = TENSOR_PREFIX + "scope."
_DISTANCE_PREFIX = TENSOR_PREFIX + "distance."
_SCOPE_REASONS = {
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
    """Below this calibrated top probability an in-scope answer is uncertain."""


@dataclass(frozen=True)
class GateConfig:
    thresholds: Thresholds
    checks: CheckLimits = field(default_factory=CheckLimits)
    scope_size: int = SCOPE_SIZE
    scope_widths: tuple[int, ...] = SCOPE_WIDTHS
    fitted: dict[str, Any] = field(default_factory=dict)
    """How the thresholds were chosen and what they gave on the validation split."""

    def to_json(self) -> str:
        return json.dumps({"format": GATE_FORMAT, **asdict(self)})

    @classmethod
    def from_json(cls, text: str) -> GateConfig:
        data = json.loads(text)
        if data.pop("format", None) != GATE_FORMAT:
            raise ValueError(f"not a {GATE_FORMAT} gate")
        return cls(
            thresholds=Thresholds(**data["thresholds"]),
            checks=CheckLimits(**data.get("checks", {})),
            scope_size=int(data["scope_size"]),
            scope_widths=tuple(int(w) for w in data["scope_widths"]),
            fitted=dict(data.get("fitted", {})),
        )


@dataclass(frozen=True)
class Assessment:
    in_scope: bool
    uncertain: bool
    reasons: tuple[Reason, ...]
    scores: dict[str, float | None]
    """``chest_xray`` (scope probability), ``typicality`` and ``confidence``; None where not computed."""


@dataclass
class GateSignals:
    """The gate's per-image numbers for a batch, computed in the inference worker."""

    chest_xray: torch.Tensor
    """``[N, len(SCOPE_CLASSES)]`` scope probabilities."""
    distance: torch.Tensor
    typicality: torch.Tensor


class Gate:
    def __init__(self, config: GateConfig, scope: ScopeNet, distance: FeatureDistance) -> None:
        self.config = config
        self.scope = scope.eval()
        self.distance = distance

    @torch.no_grad()
    def signals(self, scope_inputs: torch.Tensor, taps: list[torch.Tensor]) -> GateSignals:
        """Scope probabilities and feature distances for a batch; ``taps`` from ``predict_with_cam``."""
        probs = torch.softmax(self.scope(scope_inputs).float(), dim=1).cpu()
        scores = self.distance.score([t.cpu() for t in taps])
        return GateSignals(probs, scores, self.distance.typicality(scores))

    def assess(
        self,
        facts: ImageFacts,
        scope_inputs: torch.Tensor,
        signals: GateSignals,
        index: int,
        confidence: float,
    ) -> Assessment:
        t = self.config.thresholds
        reasons = cheap_reasons(facts, scope_inputs, self.config.checks)
        probs = signals.chest_xray[index]
        chest = float(probs[0])
        if chest < t.min_chest_xray:
            worst = SCOPE_CLASSES[1 + int(probs[1:].argmax())]
            reasons.append(_SCOPE_REASONS[worst])
        distance = float(signals.distance[index])
        if distance > t.max_distance:
            reasons.append(Reason.FAR_FROM_TRAINING_DATA)
        typicality = float(signals.typicality[index])
        in_scope = not reasons
        if in_scope:
            if confidence < t.min_confidence:
                reasons.append(Reason.LOW_CONFIDENCE)
            if typicality < t.min_typicality:
                reasons.append(Reason.ATYPICAL_FOR_TRAINING_DATA)
        scores: dict[str, float | None] = {
            "chest_xray": round(chest, 4),
            "typicality": round(typicality, 4),
            "confidence": round(confidence, 4),
        }
        return Assessment(in_scope, in_scope and bool(reasons), tuple(reasons), scores)

    def to_tensors(self) -> dict[str, torch.Tensor]:
        out = {_SCOPE_PREFIX + k: v.detach().cpu().contiguous() for k, v in self.scope.state_dict().items()}
        out.update(self.distance.to_tensors(_DISTANCE_PREFIX))
        return out

    @classmethod
    def from_tensors(cls, config: GateConfig, tensors: dict[str, torch.Tensor]) -> Gate:
        scope = ScopeNet(config.scope_widths)
        state = {k.removeprefix(_SCOPE_PREFIX): v for k, v in tensors.items() if k.startswith(_SCOPE_PREFIX)}
        scope.load_state_dict(state)
        distance = FeatureDistance.from_tensors(tensors, _DISTANCE_PREFIX)
        return cls(config, scope, distance)


def ungated_assessment(facts: ImageFacts, scope_inputs: torch.Tensor, confidence: float) -> Assessment:
    """For weights without a gate: the cheap checks still run, and every in-scope answer is uncertain."""
    reasons = cheap_reasons(facts, scope_inputs, CheckLimits())
    in_scope = not reasons
    if in_scope:
        reasons.append(Reason.GATE_UNAVAILABLE)
    scores: dict[str, float | None] = {
        "chest_xray": None,
        "typicality": None,
        "confidence": round(confidence, 4),
    }
    return Assessment(in_scope, in_scope, tuple(reasons), scores)
