"""A source-shift monitor for the random test gate, whose verdict is chosen rather than fitted."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ml.classes import CLASSES
from ml.model.gate import Gate
from ml.model.monitor import Familiarity, MonitorConfig

ALARM_BELOW = 0.3
CLEAR_ABOVE = 0.45


def with_monitor(gate: Gate, familiar: bool, window: int = 4) -> Gate:
    """``gate`` with a monitor under which every answer's familiarity is 1 (``familiar``) or 0.

    Its reference answers are all further and less sure than any answer can be (so every answer is as
    near and as sure as the most familiar), or all at distance 0 and fully sure (so none is)."""
    config = MonitorConfig(window, ALARM_BELOW, CLEAR_ABOVE, fitted={"test": True})
    distance, confidence = (np.full(8, 1e30), np.zeros(8)) if familiar else (np.zeros(8), np.ones(8))
    reference = Familiarity([distance] * len(CLASSES), [confidence] * len(CLASSES))
    return Gate(replace(gate.config, monitor=config), gate.scope, gate.distance, reference)
