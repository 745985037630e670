"""A batch's logits made into the service's answers: calibrated probabilities and each one's assessment.

One definition for whatever answers as the service does (``validate-site``, :mod:`ml.site.served`; the
service's runner computes the same). Numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ml.engine.gate import ServingGate
from ml.model.assessment import Assessment, ungated_assessment
from ml.model.checks import ImageFacts


@dataclass(frozen=True)
class ModelInputs:
    """One decoded image's inputs to the model side: what the service's pipeline hands its runner."""

    inputs: np.ndarray
    """The classifier's input ``[C, crop, crop]`` float32."""
    scope_inputs: np.ndarray
    """The scope classifier's input ``[1, s, s]`` float32."""
    facts: ImageFacts


def calibrated(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax of ``logits / temperature`` ``[N, K]``, in float64."""
    scaled = logits / temperature
    shifted = scaled.astype(np.float64) - scaled.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    probabilities: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
    return probabilities


def assess_batch(
    gate: ServingGate | None,
    items: Sequence[ModelInputs],
    probabilities: np.ndarray,
    taps: list[np.ndarray],
) -> list[Assessment]:
    """Each answer's input assessment: ``probabilities`` calibrated, ``taps`` from the engine (``with_taps``
    when there is a gate). Without a gate only the cheap checks run, and every in-scope answer is
    uncertain."""
    confidence = probabilities.max(axis=1).tolist()
    if gate is None:
        return [
            ungated_assessment(item.facts, item.scope_inputs, conf)
            for item, conf in zip(items, confidence, strict=True)
        ]
    signals = gate.signals(np.stack([item.scope_inputs for item in items]), taps)
    predicted = probabilities.argmax(axis=1).tolist()
    return [
        gate.assess(item.facts, item.scope_inputs, signals, i, conf, answer)
        for i, (item, conf, answer) in enumerate(zip(items, confidence, predicted, strict=True))
    ]
