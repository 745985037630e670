"""A batch's logits made into the service's answers: calibrated probabilities and each one's assessment.

One definition for whatever answers as the service does (``validate-site``, :mod:`ml.site.served`; the
service's runner computes the same). Numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ml.engine.gate import ServingGate
from ml.model.assessment import Assessment, ungated_assessment
from ml.model.checks import ImageFacts


def calibrated(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax of ``logits / temperature`` ``[N, K]``, in float64."""
    scaled = logits / temperature
    shifted = scaled.astype(np.float64) - scaled.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    probabilities: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
    return probabilities


def assess_batch(
    gate: ServingGate | None,
    facts: Sequence[ImageFacts],
    scope_inputs: np.ndarray,
    probabilities: np.ndarray,
    taps: list[np.ndarray],
) -> list[Assessment]:
    """Each answer's input assessment: ``scope_inputs`` ``[N, 1, s, s]``, ``probabilities`` calibrated,
    ``taps`` from the engine (``with_taps`` when there is a gate). Without a gate only the cheap checks
    run, and every in-scope answer is uncertain."""
    confidence = probabilities.max(axis=1).tolist()
    if gate is None:
        return [
            ungated_assessment(fact, scope_inputs[i], conf)
            for i, (fact, conf) in enumerate(zip(facts, confidence, strict=True))
        ]
    signals = gate.signals(scope_inputs, taps)
    predicted = probabilities.argmax(axis=1).tolist()
    return [
        gate.assess(fact, scope_inputs[i], signals, i, conf, answer)
        for i, (fact, conf, answer) in enumerate(zip(facts, confidence, predicted, strict=True))
    ]
