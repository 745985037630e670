"""A random input-assessment gate with chosen thresholds, for weights files the tests generate."""

from __future__ import annotations

import torch

from ml.model.cnn import WIDTHS
from ml.model.distance import FeatureDistance, LayerStats
from ml.model.gate import Gate, GateConfig, Thresholds
from ml.model.scope import ScopeNet

TRUSTING = Thresholds(min_chest_xray=0.0, max_distance=1e30, min_typicality=0.0, min_confidence=0.0)
"""Thresholds that let every image pass the learned checks (the cheap ones still apply)."""
REJECTING = Thresholds(min_chest_xray=1.01, max_distance=1e30, min_typicality=0.0, min_confidence=0.0)
"""Thresholds under which no image is a frontal chest X-ray."""
DOUBTING = Thresholds(min_chest_xray=0.0, max_distance=1e30, min_typicality=0.0, min_confidence=1.01)
"""Thresholds under which every in-scope answer has low confidence."""


def random_gate(thresholds: Thresholds = TRUSTING, seed: int = 0, classes: int = 3) -> Gate:
    torch.manual_seed(seed)
    layers = [LayerStats(torch.randn(classes, width), torch.eye(width)) for width in WIDTHS]
    distance = FeatureDistance(layers=layers, reference=torch.linspace(0.5, 2.0, 101))
    return Gate(GateConfig(thresholds=thresholds, fitted={"test": True}), ScopeNet().eval(), distance)
