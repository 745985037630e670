"""How well a weights file's input assessment works: part of ``python -m ml evaluate``.

Three measurements, each on images the gate was not fitted on:

* the validation split (or a test set, then also per source): shares out of scope and uncertain,
  accuracy of flagged and unflagged answers, and the risk-coverage curve;
* held-out negatives (:func:`ml.gate.data.build_scope_set` with another seed, hard negatives made from
  validation X-rays, and the packaged images kept out of training): the share caught;
* validation images under each acquisition shift of the robustness suite: a stand-in for other
  hospitals' images, where the classifier errs more often and the gate should flag its errors.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from ml.evaluation.metrics import softmax
from ml.gate.data import (
    POSITIVE_KINDS,
    Images,
    classifier_outputs,
    scope_batch,
    scope_examples,
    shifted,
)
from ml.gate.shared import load_shared, shared_root
from ml.model import LoadedWeights, PaperCNN
from ml.model.checks import ImageFacts
from ml.model.gate import Assessment, Gate, GateSignals
from ml.preprocessing import PreprocessSpec
from ml.robustness.shifts import SHIFTS, apply_shift


@dataclass
class GateRun:
    probs: np.ndarray
    assessments: list[Assessment]
    distance: np.ndarray
    """Each image's feature-distance score (:mod:`ml.model.distance`), unrounded."""

    @property
    def out_of_scope(self) -> np.ndarray:
        return np.array([not a.in_scope for a in self.assessments], dtype=bool)

    @property
    def uncertain(self) -> np.ndarray:
        return np.array([a.uncertain for a in self.assessments], dtype=bool)

    def subset(self, mask: np.ndarray) -> GateRun:
        kept = [a for a, keep in zip(self.assessments, mask, strict=True) if keep]
        return GateRun(self.probs[mask], kept, self.distance[mask])


def assess_images(
    model: PaperCNN, gate: Gate, spec: PreprocessSpec, temperature: float, images: list[np.ndarray]
) -> GateRun:
    """The classifier and the gate on decoded images, batched as the worker batches them."""
    logits, taps = classifier_outputs(model, images, spec)
    probs = softmax(logits, temperature)
    scope_inputs = scope_batch(images)
    parts = [
        gate.signals(scope_inputs[i : i + 256], [t[i : i + 256] for t in taps])
        for i in range(0, len(images), 256)
    ]
    signals = GateSignals(
        *(torch.cat([getattr(p, f) for p in parts]) for f in ("chest_xray", "distance", "typicality"))
    )
    assessments = [
        gate.assess(
            ImageFacts(height=int(im.shape[0]), width=int(im.shape[1])),
            scope_inputs[i],
            signals,
            i,
            float(probs[i].max()),
            int(probs[i].argmax()),
        )
        for i, im in enumerate(images)
    ]
    return GateRun(probs, assessments, signals.distance.numpy())


def _share(mask: np.ndarray) -> float:
    return float(mask.mean()) if len(mask) else 0.0


def _accuracy(correct: np.ndarray, mask: np.ndarray) -> float | None:
    return float(correct[mask].mean()) if mask.any() else None


def answer_quality(run: GateRun, labels: np.ndarray) -> dict[str, Any]:
    """Shares flagged and the accuracy of flagged and unflagged answers."""
    correct = run.probs.argmax(axis=1) == labels
    flagged = run.out_of_scope | run.uncertain
    reasons = Counter(r.value for a in run.assessments for r in a.reasons)
    return {
        "n": len(labels),
        "accuracy": _share(correct),
        "out_of_scope": _share(run.out_of_scope),
        "uncertain": _share(run.uncertain),
        "flagged": _share(flagged),
        "accuracy_unflagged": _accuracy(correct, ~flagged),
        "accuracy_flagged": _accuracy(correct, flagged),
        "coverage": _share(~flagged),
        "errors_flagged": _accuracy(flagged, ~correct),
        "reasons": dict(sorted(reasons.items())),
    }


def risk_coverage(run: GateRun, labels: np.ndarray) -> dict[str, list[float]]:
    """Error rate among the answers kept, keeping the most confident (or most typical) first."""
    wrong = (run.probs.argmax(axis=1) != labels).astype(np.float64)
    curves: dict[str, list[float]] = {}
    orders = {
        "confidence": -run.probs.max(axis=1),
        "typicality": -np.array([a.scores["typicality"] or 0.0 for a in run.assessments]),
    }
    for name, key in orders.items():
        order = np.argsort(key, kind="mergesort")
        kept = np.arange(1, len(order) + 1)
        curves[f"{name}_risk"] = (np.cumsum(wrong[order]) / kept).tolist()
    curves["coverage"] = (np.arange(1, len(wrong) + 1) / max(1, len(wrong))).tolist()
    return curves


def negatives_caught(run: GateRun, kinds: list[str]) -> dict[str, Any]:
    """Share of each kind of held-out image judged out of scope (frontal X-rays: share kept in scope)."""
    oos = run.out_of_scope
    by_kind = {kind: _share(oos[[k == kind for k in kinds]]) for kind in sorted(set(kinds))}
    negative = np.array([k not in POSITIVE_KINDS for k in kinds])
    frontal = np.array([k == "frontal" for k in kinds])
    return {
        "caught": _share(oos[negative]),
        "n_negatives": int(negative.sum()),
        "frontal_out_of_scope": _share(oos[frontal]),
        "by_kind": by_kind,
    }


def shifted_quality(
    model: PaperCNN,
    gate: Gate,
    spec: PreprocessSpec,
    temperature: float,
    val: Images,
    severity: int,
    seed: int,
) -> dict[str, dict[str, Any]]:
    """:func:`answer_quality` of the validation images under each suite shift at one severity."""
    out = {}
    for name in SHIFTS:
        rng = np.random.default_rng(seed)
        images = [apply_shift(shifted(p, rng, 0.0), name, severity, rng) for p in val.pixels]
        out[name] = answer_quality(assess_images(model, gate, spec, temperature, images), val.labels)
    return out


def _by_source(run: GateRun, labels: np.ndarray, sources: list[str]) -> dict[str, Any]:
    names = np.asarray(sources)
    return {str(s): answer_quality(run.subset(names == s), labels[names == s]) for s in sorted(set(sources))}


def evaluate_gate(
    weights: LoadedWeights,
    val: Images,
    seed: int = 1,
    shift_images: int = 300,
    shift_severity: int = 2,
    negatives_per_kind: int = 200,
    name: str = "validation",
    sources: list[str] | None = None,
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Every measurement above for a gated weights file; returns the results and the risk-coverage curves.

    ``name`` says what ``val`` is in the report; with ``sources`` (one per image, as a test set's manifest
    names them) the answers' quality is also given per source, since a pooled figure hides which
    hospital's errors go unflagged."""
    gate = weights.gate
    if gate is None:
        raise ValueError("these weights carry no input assessment; export them with --data")
    model, spec, temperature = weights.model, weights.metadata.preprocessing, weights.metadata.temperature
    run = assess_images(model, gate, spec, temperature, val.pixels)
    shared = load_shared(shared_root(), held_out=True)
    held_out = list(scope_examples(val.pixels, 1000 + seed, negatives_per_kind, True, shared))
    neg_run = assess_images(model, gate, spec, temperature, [example[0] for example in held_out])
    subset = np.random.default_rng(seed).permutation(len(val.pixels))[:shift_images]
    small = Images([val.pixels[i] for i in subset], val.labels[subset])
    results = {
        "thresholds": asdict(gate.config.thresholds),
        "images": name,
        "validation": answer_quality(run, val.labels),
        "by_source": _by_source(run, val.labels, sources) if sources else {},
        "negatives": negatives_caught(neg_run, [example[2] for example in held_out]),
        "shift_severity": shift_severity,
        "shifted": shifted_quality(model, gate, spec, temperature, small, shift_severity, seed)
        if shift_images
        else {},
    }
    return results, risk_coverage(run, val.labels)
