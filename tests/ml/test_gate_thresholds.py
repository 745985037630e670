"""The gate's thresholds are the validation quantiles that flag the target shares (``choose_thresholds``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.data import discover, split_by_group, validation_halves, write_split
from ml.evaluation.metrics import softmax
from ml.gate.data import classifier_outputs, load_split
from ml.gate.fit import GateTargets, choose_thresholds, class_confidence
from ml.gate.refit_thresholds import refit
from ml.model import load_weights
from ml.model.distance import FeatureDistance
from tests.support.gate import TRUSTING, random_gate
from tests.support.weights import write_random_weights

N = 5000


def validation_scores(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probabilities, distance scores and scope probabilities shaped roughly like a real validation split's:
    three classes answered 25/65/10% of the time, the rarest the least confidently."""
    rng = np.random.default_rng(seed)
    answers = rng.choice(3, N, p=[0.25, 0.65, 0.10])
    spread = np.array([8.0, 20.0, 3.0])[answers]
    confidence = 1 - rng.beta(0.5, spread) * 0.6
    probs = np.zeros((N, 3))
    probs[np.arange(N), answers] = confidence
    probs[np.arange(N), (answers + 1) % 3] = 1 - confidence
    scores = rng.chisquare(4, N) / 4
    chest = 1 - rng.beta(0.3, 30, N)
    return probs, scores, chest


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_threshold_is_numpys_quantile_at_its_target_share(seed: int) -> None:
    probs, scores, chest = validation_scores(seed)
    targets = GateTargets(far_from_training=0.01, low_confidence=0.07, scope_quantile=0.02, scope_ceiling=1.0)

    t = choose_thresholds(probs, scores, chest, targets)

    assert t.max_distance == pytest.approx(np.quantile(scores, 0.99), rel=1e-12)
    assert t.min_chest_xray == pytest.approx(np.quantile(chest, 0.02), rel=1e-12)
    assert t.min_typicality == targets.atypical
    # ... and so flag those shares of the validation split (to within the one sample a quantile sits on).
    assert np.mean(scores > t.max_distance) == pytest.approx(0.01, abs=1.5 / N)
    assert np.mean(chest < t.min_chest_xray) == pytest.approx(0.02, abs=1.5 / N)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_class_flags_its_own_share_of_low_confidence_answers(seed: int) -> None:
    probs, scores, chest = validation_scores(seed)
    confidence, answers = probs.max(1), probs.argmax(1)

    t = choose_thresholds(probs, scores, chest, GateTargets(low_confidence=0.07))

    floors = np.array(t.min_class_confidence)
    assert len(floors) == 3 and t.min_confidence == floors.min()
    assert floors[1] > floors[0] > floors[2]  # the surest class gets the highest floor
    for k in range(3):
        flagged = confidence[answers == k] < t.confidence_floor(k)
        assert flagged.mean() == pytest.approx(0.07, abs=1.5 / (answers == k).sum())
    # One pooled threshold at the same overall share would leave the surest class nearly unflagged.
    pooled = np.quantile(confidence, 0.07)
    assert np.mean(confidence[answers == 1] < pooled) < 0.02


def test_the_scope_threshold_never_rises_above_its_ceiling() -> None:
    probs, scores, _ = validation_scores(3)
    chest = np.full(N, 0.9)

    t = choose_thresholds(probs, scores, chest, GateTargets(scope_ceiling=0.5))

    assert t.min_chest_xray == 0.5


def test_the_typicality_threshold_flags_its_share_of_the_validation_split() -> None:
    _, scores, _ = validation_scores(4)
    targets = GateTargets(atypical=0.05)
    distance = FeatureDistance(layers=[], reference=torch.from_numpy(np.sort(scores)))

    t = choose_thresholds(np.eye(3)[np.arange(N) % 3], scores, np.ones(N), targets)
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


def test_refitting_the_uncertain_thresholds_keeps_the_rest_of_the_gate(
    manifest_dataset: Path, tmp_path: Path
) -> None:
    dataset = discover(manifest_dataset)
    train, val = split_by_group(dataset.samples, 0.5, seed=0)
    write_split(tmp_path / "split.csv", dataset.root, train, val)
    source = write_random_weights(
        tmp_path / "source.safetensors", gate=random_gate(replace(TRUSTING, min_typicality=0.3))
    )
    out = tmp_path / "refit.safetensors"

    refit(
        source,
        out,
        manifest_dataset,
        tmp_path / "split.csv",
        "9.9.9",
        GateTargets(low_confidence=0.25, atypical=0.04),
    )

    before, after = load_weights(source), load_weights(out)
    assert before.gate is not None and after.gate is not None
    t = after.gate.config.thresholds
    _, fitted_val = load_split(manifest_dataset, tmp_path / "split.csv")
    logits, _ = classifier_outputs(after.model, fitted_val.pixels, after.metadata.preprocessing)
    assert t.min_class_confidence == class_confidence(softmax(logits, after.metadata.temperature), 0.25)
    assert (t.min_typicality, t.min_confidence) == (0.04, min(t.min_class_confidence))
    assert (t.min_chest_xray, t.max_distance) == (TRUSTING.min_chest_xray, TRUSTING.max_distance)
    assert after.metadata.version == "9.9.9"
    assert after.gate.config.fitted["uncertain_refit"]["before"]["min_typicality"] == 0.3
    for name, tensor in before.gate.to_tensors().items():
        assert torch.equal(after.gate.to_tensors()[name], tensor), name
