"""A random input-assessment gate with chosen thresholds, for weights files the tests generate."""

from __future__ import annotations

import numpy as np
import torch

from ml.model.cnn import WIDTHS
from ml.model.distance import FeatureDistance, LayerStats
from ml.model.gate import Gate, GateConfig, Thresholds
from ml.model.monitor import Familiarity, MonitorConfig
from ml.model.scope import ScopeNet

TRUSTING = Thresholds(min_chest_xray=0.0, max_distance=1e30, min_typicality=0.0, min_confidence=0.0)
"""Thresholds that let every image pass the learned checks (the cheap ones still apply)."""
REJECTING = Thresholds(min_chest_xray=1.01, max_distance=1e30, min_typicality=0.0, min_confidence=0.0)
"""Thresholds under which no image is a frontal chest X-ray."""
DOUBTING = Thresholds(min_chest_xray=0.0, max_distance=1e30, min_typicality=0.0, min_confidence=1.01)
"""Thresholds under which every in-scope answer has low confidence."""
CALM = MonitorConfig(window=16, alarm_below=0.0, clear_above=0.0, fitted={"test": True})
"""A source-shift monitor whose alarm never starts."""
ALARMED = MonitorConfig(window=4, alarm_below=1.0, clear_above=1.0, fitted={"test": True})
"""A source-shift monitor whose alarm starts with a site's fourth in-scope answer and never ends."""


def spread_familiarity(classes: int = 3) -> Familiarity:
    """A monitor reference spread over the distances and confidences random weights give."""
    distances = [np.linspace(0.0, 5.0, 101) for _ in range(classes)]
    confidences = [np.linspace(1.0 / classes, 1.0, 101) for _ in range(classes)]
    return Familiarity(distances, confidences)


def random_gate(
    thresholds: Thresholds = TRUSTING,
    seed: int = 0,
    classes: int = 3,
    monitor: MonitorConfig | None = CALM,
) -> Gate:
    """A random gate; with a source-shift ``monitor`` (None: without one) on :func:`spread_familiarity`."""
    torch.manual_seed(seed)
    layers = [LayerStats(torch.randn(classes, width), torch.eye(width)) for width in WIDTHS]
    distance = FeatureDistance(layers=layers, reference=torch.linspace(0.5, 2.0, 101))
    config = GateConfig(thresholds=thresholds, fitted={"test": True}, monitor=monitor)
    familiarity = spread_familiarity(classes) if monitor is not None else None
    return Gate(config, ScopeNet().eval(), distance, familiarity)
