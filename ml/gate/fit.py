"""Fit a weights file's input assessment; ``python -m ml export --data DIR`` runs :func:`fit_gate`.

1. The classifier's pooled block outputs on the training split give the class means and covariances of
   the feature distance; its validation scores become the typicality yardstick.
2. The scope classifier is trained on the training split's X-rays against generated negatives (or taken
   from another weights file, ``--scope-from``, when only the classifier changed).
3. Thresholds are chosen on the validation split to flag the shares in :class:`GateTargets`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml.evaluation.metrics import softmax
from ml.gate.data import Images, build_scope_set, classifier_outputs, load_split, scope_batch
from ml.gate.shared import load_shared, shared_root
from ml.gate.train_scope import ScopeTrainConfig, scope_probabilities, train_scope
from ml.model import LoadedWeights
from ml.model.distance import fit_distance
from ml.model.gate import Gate, GateConfig, Thresholds
from ml.model.scope import ScopeNet

logger = logging.getLogger(__name__)

DISTANCE_IMAGES = 4000
"""Training images whose features give the class means and covariance: a random subset, since a
covariance of at most 256 dimensions is well estimated from 4,000 and every image costs a forward pass
(about 40 ms on two CPU cores)."""


@dataclass(frozen=True)
class GateTargets:
    """Shares of the validation split each threshold is set to flag."""

    far_from_training: float = 0.002
    """Out of scope by feature distance: beyond all but this share of validation images."""
    atypical: float = 0.02
    """Uncertain by typicality (typicality is itself a validation quantile, so this is its threshold). 0.05
    until 1.4.0: at 2% it still flags noisy and bordered images the classifier is sure about, and far
    fewer of the correct answers on other hospitals' films (docs/assessment.md, "Each class's own
    low-confidence floor")."""
    low_confidence: float = 0.06
    """Uncertain by calibrated confidence: this share of the validation answers of each class."""
    scope_quantile: float = 0.003
    """The scope threshold sits at this quantile of validation X-rays' scope probability ..."""
    scope_ceiling: float = 0.5
    """... or here, whichever is lower."""


def class_confidence(probs: np.ndarray, share: float) -> tuple[float, ...]:
    """Per class, the confidence below which ``share`` of the answers of that class fall (``probs``
    ``[N, classes]``, calibrated); a class never answered gets the pooled quantile."""
    confidence, answers = probs.max(axis=1), probs.argmax(axis=1)
    pooled = float(np.quantile(confidence, share))
    return tuple(
        float(np.quantile(confidence[answers == k], share)) if (answers == k).any() else pooled
        for k in range(probs.shape[1])
    )


def choose_thresholds(
    probs: np.ndarray, scores: np.ndarray, chest: np.ndarray, targets: GateTargets
) -> Thresholds:
    per_class = class_confidence(probs, targets.low_confidence)
    return Thresholds(
        min_chest_xray=float(min(targets.scope_ceiling, np.quantile(chest, targets.scope_quantile))),
        max_distance=float(np.quantile(scores, 1 - targets.far_from_training)),
        min_typicality=targets.atypical,
        min_confidence=min(per_class),
        min_class_confidence=per_class,
    )


@dataclass
class FittedGate:
    gate: Gate
    train: Images
    val: Images
    val_logits: np.ndarray


def fit_gate(
    weights: LoadedWeights,
    data_dir: Path,
    split: Path | None,
    scope_cfg: ScopeTrainConfig,
    scope_from: ScopeNet | None = None,
    targets: GateTargets | None = None,
) -> FittedGate:
    targets = targets or GateTargets()
    spec = weights.metadata.preprocessing
    train, val = load_split(data_dir, split)
    subset = np.random.default_rng(scope_cfg.seed).permutation(len(train.pixels))[:DISTANCE_IMAGES]
    logger.info("classifier features of %d training images", len(subset))
    _, train_taps = classifier_outputs(weights.model, [train.pixels[i] for i in subset], spec)
    logger.info("classifier features of %d validation images", len(val.pixels))
    val_logits, val_taps = classifier_outputs(weights.model, val.pixels, spec)
    labels = torch.from_numpy(train.labels[subset])
    distance = fit_distance(train_taps, labels, val_taps, len(weights.metadata.classes))
    if scope_from is None:
        shared = load_shared(shared_root(data_dir), held_out=False)
        scope_set = build_scope_set(
            train.pixels, scope_cfg.seed, scope_cfg.per_maker, held_out=False, shared=shared
        )
        scope = train_scope(scope_set, scope_cfg)
        scope_source: dict[str, Any] = {
            "trained": scope_cfg.to_dict(),
            "ct_volumes": [v.name for v in shared.volumes],
            "real_negatives": {k: len(v) for k, v in shared.negatives.items()},
        }
    else:
        scope, scope_source = scope_from, {"copied": True}
    chest = scope_probabilities(scope, scope_batch(val.pixels))[:, 0].numpy()
    probs = softmax(val_logits, weights.metadata.temperature)
    scores = distance.score(val_taps).numpy()
    thresholds = choose_thresholds(probs, scores, chest, targets)
    fitted = {
        "targets": asdict(targets),
        "scope": scope_source,
        "validation_images": len(val.pixels),
        "validation_half": "assess",
        "training_images": len(train.pixels),
        "distance_images": len(subset),
    }
    config = GateConfig(thresholds=thresholds, fitted=fitted)
    logger.info("gate thresholds: %s", thresholds)
    return FittedGate(Gate(config, scope, distance), train, val, val_logits)
