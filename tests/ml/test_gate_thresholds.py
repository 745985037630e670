"""The gate's thresholds are the validation quantiles that flag the target shares (``choose_thresholds``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ml.data import discover, split_by_group, validation_halves, write_split
from ml.gate.data import load_split
from ml.gate.fit import GateTargets, choose_thresholds
from ml.model.distance import FeatureDistance

N = 5000


def validation_scores(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Confidence, distance scores and scope probabilities shaped roughly like a real validation split's."""
    rng = np.random.default_rng(seed)
    confidence = 1 - rng.beta(0.5, 8, N) * 2 / 3
    scores = rng.chisquare(4, N) / 4
    chest = 1 - rng.beta(0.3, 30, N)
    return confidence, scores, chest


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_threshold_is_numpys_quantile_at_its_target_share(seed: int) -> None:
    confidence, scores, chest = validation_scores(seed)
    targets = GateTargets(far_from_training=0.01, low_confidence=0.07, scope_quantile=0.02, scope_ceiling=1.0)

    t = choose_thresholds(confidence, scores, chest, targets)

    assert t.max_distance == pytest.approx(np.quantile(scores, 0.99), rel=1e-12)
    assert t.min_confidence == pytest.approx(np.quantile(confidence, 0.07), rel=1e-12)
    assert t.min_chest_xray == pytest.approx(np.quantile(chest, 0.02), rel=1e-12)
    assert t.min_typicality == targets.atypical
    # ... and so flag those shares of the validation split (to within the one sample a quantile sits on).
    assert np.mean(scores > t.max_distance) == pytest.approx(0.01, abs=1.5 / N)
    assert np.mean(confidence < t.min_confidence) == pytest.approx(0.07, abs=1.5 / N)
    assert np.mean(chest < t.min_chest_xray) == pytest.approx(0.02, abs=1.5 / N)


def test_the_scope_threshold_never_rises_above_its_ceiling() -> None:
    confidence, scores, _ = validation_scores(3)
    chest = np.full(N, 0.9)

    t = choose_thresholds(confidence, scores, chest, GateTargets(scope_ceiling=0.5))

    assert t.min_chest_xray == 0.5


def test_the_typicality_threshold_flags_its_share_of_the_validation_split() -> None:
    _, scores, _ = validation_scores(4)
    targets = GateTargets(atypical=0.05)
    distance = FeatureDistance(layers=[], reference=torch.from_numpy(np.sort(scores)))

    t = choose_thresholds(np.ones(N), scores, np.ones(N), targets)
    typicality = distance.typicality(torch.from_numpy(scores)).numpy()

    assert np.mean(typicality < t.min_typicality) == pytest.approx(0.05, abs=1.5 / N)


def test_thresholds_are_fitted_on_the_validation_half_that_chose_nothing(
    manifest_dataset: Path, tmp_path: Path
) -> None:
    dataset = discover(manifest_dataset)
    train, val = split_by_group(dataset.samples, 0.5, seed=0)
    write_split(tmp_path / "split.csv", dataset.root, train, val)

    fitted_train, fitted_val = load_split(manifest_dataset, tmp_path / "split.csv")

    assess = validation_halves(val)[1]
    assert len(fitted_train.pixels) == len(train)
    assert fitted_val.labels.tolist() == [s.label for s in assess]
