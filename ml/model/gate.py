"""The input assessment: whether an answer can be trusted, computed beside every prediction.

An image is **out of scope** when a cheap check fails (:mod:`ml.model.checks`), when the scope classifier
(:mod:`ml.model.scope`) does not see a frontal chest X-ray, or when the classifier's features lie far
beyond the validation data (:mod:`ml.model.distance`). An in-scope answer is **uncertain** when its
calibrated confidence is low or its features are atypical of the training data. Every threshold was
chosen on the validation split by ``python -m ml export`` and travels in the weights file, so each model
carries its own gate. The configuration and the verdict are :mod:`ml.model.assessment`'s, shared with
the service's torch-free gate (:mod:`ml.engine.gate`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ml.model.assessment import (
    DISTANCE_PREFIX,
    GATE_FORMAT,
    SCOPE_PREFIX,
    TENSOR_PREFIX,
    Assessment,
    GateConfig,
    Thresholds,
    judge,
    ungated_assessment,
)
from ml.model.checks import ImageFacts
from ml.model.distance import FeatureDistance
from ml.model.monitor import MONITOR_PREFIX, Familiarity
from ml.model.scope import ScopeNet

__all__ = [
    "GATE_FORMAT",
    "TENSOR_PREFIX",
    "Assessment",
    "Gate",
    "GateConfig",
    "GateSignals",
    "Thresholds",
    "ungated_assessment",
]


@dataclass
class GateSignals:
    """The gate's per-image numbers for a batch, computed in the inference worker."""

    chest_xray: torch.Tensor
    """``[N, len(SCOPE_CLASSES)]`` scope probabilities."""
    distance: torch.Tensor
    typicality: torch.Tensor


class Gate:
    def __init__(
        self,
        config: GateConfig,
        scope: ScopeNet,
        distance: FeatureDistance,
        familiarity: Familiarity | None = None,
    ) -> None:
        """``familiarity``: the source-shift monitor's reference, needed when ``config.monitor`` is set."""
        if (config.monitor is None) != (familiarity is None):
            raise ValueError("a monitor configuration and its reference answers go together")
        self.config = config
        self.scope = scope.eval()
        self.distance = distance
        self.familiarity = familiarity

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
        predicted: int,
    ) -> Assessment:
        distance = float(signals.distance[index])
        familiar = self.familiarity
        return judge(
            self.config,
            facts,
            scope_inputs.detach().cpu().float().numpy(),
            signals.chest_xray[index].numpy(),
            distance,
            float(signals.typicality[index]),
            confidence,
            predicted,
            None if familiar is None else familiar.score(predicted, distance, confidence),
        )

    def to_tensors(self) -> dict[str, torch.Tensor]:
        out = {SCOPE_PREFIX + k: v.detach().cpu().contiguous() for k, v in self.scope.state_dict().items()}
        out.update(self.distance.to_tensors(DISTANCE_PREFIX))
        if self.familiarity is not None:
            out.update({k: torch.from_numpy(v) for k, v in self.familiarity.to_arrays().items()})
        return out

    @classmethod
    def from_tensors(cls, config: GateConfig, tensors: dict[str, torch.Tensor], classes: int) -> Gate:
        scope = ScopeNet(config.scope_widths)
        state = {k.removeprefix(SCOPE_PREFIX): v for k, v in tensors.items() if k.startswith(SCOPE_PREFIX)}
        scope.load_state_dict(state)
        distance = FeatureDistance.from_tensors(tensors, DISTANCE_PREFIX)
        familiarity = None
        if config.monitor is not None:
            arrays = {k: v.numpy() for k, v in tensors.items() if k.startswith(MONITOR_PREFIX)}
            familiarity = Familiarity.from_arrays(arrays, classes)
        return cls(config, scope, distance, familiarity)
