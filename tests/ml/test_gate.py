"""The input assessment's parts, and export/evaluate fitting and judging a gate on generated data."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from ml.__main__ import run
from ml.classes import CLASSES
from ml.gate import negatives
from ml.gate.data import scope_examples
from ml.model import WeightsError, WeightsMetadata, build_model, load_weights, read_header, save_weights
from ml.model.checks import CheckLimits, ImageFacts, Reason, cheap_reasons
from ml.model.distance import fit_distance
from ml.model.gate import Gate, GateConfig, GateSignals, Thresholds
from ml.model.scope import SCOPE_CLASSES, SCOPE_SIZE, ScopeNet, scope_input
from ml.model.weights_file import read_weights
from tests.support.gate import REJECTING, TRUSTING, random_gate
from tests.support.weights import TEST_SPEC

XRAY = np.clip(np.random.default_rng(0).normal(0.5, 0.2, (120, 100)), 0, 1).astype(np.float32)


def test_the_scope_classifier_is_small_and_sees_the_whole_image_squashed() -> None:
    assert sum(p.numel() for p in ScopeNet().parameters()) <= 100_000
    x = scope_input(torch.rand(300, 200))
    assert x.shape == (1, SCOPE_SIZE, SCOPE_SIZE)
    assert float(x.min()) >= -1 and float(x.max()) <= 1
    assert ScopeNet()(x[None]).shape == (1, len(SCOPE_CLASSES))


def test_feature_distance_grows_away_from_the_training_data() -> None:
    rng = torch.Generator().manual_seed(0)
    labels = torch.arange(600) % 3
    train = [torch.randn(600, d, generator=rng) + labels[:, None].float() for d in (4, 8)]
    val = [torch.randn(300, d, generator=rng) + (torch.arange(300) % 3)[:, None].float() for d in (4, 8)]
    distance = fit_distance(train, labels, val, num_classes=3)

    near = distance.score([t[:50] for t in val])
    far = distance.score([t[:50] + 25 for t in val])

    assert float(far.min()) > float(near.max())
    assert float(distance.typicality(far).max()) == 0.0
    assert 0.3 < float(distance.typicality(distance.score(val)).mean()) < 0.7


@pytest.mark.parametrize("name", sorted(negatives.MAKERS))
def test_each_negative_maker_draws_a_grayscale_image_deterministically(name: str) -> None:
    make = negatives.MAKERS[name]
    first, again = make(np.random.default_rng(3)), make(np.random.default_rng(3))

    assert first.dtype == np.float32 and first.ndim == 2
    assert first.min() >= 0 and first.max() <= 1
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize("name", sorted(negatives.HARD_MAKERS))
def test_hard_negatives_are_made_from_an_xray(name: str) -> None:
    scope_class, make = negatives.HARD_MAKERS[name]
    out = make(XRAY, np.random.default_rng(1))

    assert scope_class in SCOPE_CLASSES
    assert out.ndim == 2 and out.min() >= 0 and out.max() <= 1
    assert out.shape != XRAY.shape or not np.array_equal(out, XRAY)


def test_inverted_negatives_are_the_exact_negative() -> None:
    np.testing.assert_allclose(negatives.inverted(XRAY, np.random.default_rng(0)), 1 - XRAY)


def test_scope_examples_cover_every_kind_of_negative() -> None:
    kinds = {
        kind
        for _, _, kind in scope_examples([(XRAY * 255).astype(np.uint8)], seed=0, per_maker=2, held_out=True)
    }

    assert {"frontal", *negatives.MAKERS, *negatives.HARD_MAKERS} <= kinds


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        (ImageFacts(100, 100, modality="MR"), Reason.NON_RADIOGRAPH_MODALITY),
        (ImageFacts(100, 100, view_position="LATERAL"), Reason.LATERAL_VIEW),
        (ImageFacts(100, 100, body_part="KNEE"), Reason.OTHER_BODY_PART),
        (ImageFacts(100, 100, colour_fraction=0.4), Reason.COLOUR_IMAGE),
        (ImageFacts(100, 300), Reason.UNUSUAL_ASPECT_RATIO),
    ],
)
def test_cheap_checks_name_what_is_wrong(facts: ImageFacts, reason: Reason) -> None:
    assert reason in cheap_reasons(facts, scope_input(torch.from_numpy(XRAY)).numpy(), CheckLimits())


def test_a_plain_chest_film_passes_the_cheap_checks() -> None:
    facts = ImageFacts(120, 100, modality="DX", view_position="PA", body_part="CHEST")

    assert cheap_reasons(facts, scope_input(torch.from_numpy(XRAY)).numpy(), CheckLimits()) == []
    assert Reason.BLANK_IMAGE in cheap_reasons(facts, np.zeros((1, 8, 8), np.float32), CheckLimits())


def _signals(chest: float, distance: float, typicality: float) -> GateSignals:
    rest = 1 - chest
    probs = torch.tensor([[chest, rest / 4, rest / 4, rest / 2]])
    return GateSignals(probs, torch.tensor([distance]), torch.tensor([typicality]))


def test_the_gate_puts_out_of_scope_first_and_uncertainty_only_in_scope() -> None:
    gate = random_gate(
        Thresholds(min_chest_xray=0.5, max_distance=3.0, min_typicality=0.05, min_confidence=0.6)
    )
    facts, x = ImageFacts(120, 100), scope_input(torch.from_numpy(XRAY))

    trusted = gate.assess(facts, x, _signals(0.9, 1.0, 0.4), 0, confidence=0.9, predicted=0)
    doubtful = gate.assess(facts, x, _signals(0.9, 1.0, 0.01), 0, confidence=0.5, predicted=0)
    outside = gate.assess(facts, x, _signals(0.1, 9.0, 0.0), 0, confidence=0.5, predicted=0)

    assert (trusted.in_scope, trusted.uncertain, trusted.reasons) == (True, False, ())
    assert doubtful.reasons == (Reason.LOW_CONFIDENCE, Reason.ATYPICAL_FOR_TRAINING_DATA)
    assert (doubtful.in_scope, doubtful.uncertain) == (True, True)
    assert (outside.in_scope, outside.uncertain) == (False, False)
    assert set(outside.reasons) == {Reason.NOT_FRONTAL_CHEST_XRAY, Reason.FAR_FROM_TRAINING_DATA}


def test_an_answer_is_doubted_below_its_own_class_floor() -> None:
    floors = (0.8, 0.97, 0.6)
    thresholds = Thresholds(
        min_chest_xray=0.5,
        max_distance=3.0,
        min_typicality=0.0,
        min_confidence=0.6,
        min_class_confidence=floors,
    )
    gate = random_gate(thresholds)
    facts, x, signals = ImageFacts(120, 100), scope_input(torch.from_numpy(XRAY)), _signals(0.9, 1.0, 0.4)

    verdicts = [gate.assess(facts, x, signals, 0, confidence=0.9, predicted=k) for k in range(3)]

    assert [v.uncertain for v in verdicts] == [False, True, False]
    assert verdicts[1].reasons == (Reason.LOW_CONFIDENCE,)
    # A gate written before the per-class floors existed reads back with the single one.
    old = json.loads(GateConfig(thresholds=thresholds).to_json())
    del old["thresholds"]["min_class_confidence"]
    restored = GateConfig.from_json(json.dumps(old))
    assert restored.thresholds.min_class_confidence == ()
    assert [restored.thresholds.confidence_floor(k) for k in range(3)] == [0.6, 0.6, 0.6]
    assert GateConfig.from_json(GateConfig(thresholds=thresholds).to_json()).thresholds == thresholds


def _meta() -> WeightsMetadata:
    # The tests' small input keeps every forward pass in milliseconds.
    return WeightsMetadata(architecture="paper_cnn", classes=list(CLASSES), preprocessing=TEST_SPEC)


def test_a_gate_travels_in_the_weights_file(tmp_path: Path) -> None:
    path = tmp_path / "gated.safetensors"
    gate = random_gate(REJECTING)
    save_weights(path, build_model("paper_cnn"), _meta(), gate)

    loaded = load_weights(path)

    assert loaded.gate is not None
    assert loaded.gate.config.thresholds == REJECTING
    torch.testing.assert_close(loaded.gate.scope.fc.weight, gate.scope.fc.weight)
    torch.testing.assert_close(loaded.gate.distance.reference, gate.distance.reference)


def test_weights_without_a_gate_load_with_none(tmp_path: Path) -> None:
    save_weights(tmp_path / "plain.safetensors", build_model("paper_cnn"), _meta())

    assert load_weights(tmp_path / "plain.safetensors").gate is None


def test_a_damaged_gate_is_a_weights_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.safetensors"
    gate = random_gate(TRUSTING)
    save_weights(path, build_model("paper_cnn"), _meta(), gate)
    tensors = load_file(str(path))
    del tensors["gate.distance.layer1.precision"]
    save_file(tensors, str(path), metadata=read_header(path))

    for read in (load_weights, read_weights):
        with pytest.raises(WeightsError, match="gate"):
            read(path)


def test_a_gate_fitted_on_another_number_of_blocks_is_a_weights_error(tmp_path: Path) -> None:
    path = tmp_path / "other.safetensors"
    gate = random_gate(TRUSTING)
    three = Gate(
        gate.config, gate.scope, replace(gate.distance, layers=gate.distance.layers[:3]), gate.familiarity
    )
    save_weights(path, build_model("paper_cnn"), _meta(), three)

    for read in (load_weights, read_weights):
        with pytest.raises(WeightsError, match="gate measures 3 feature layers, the model has 4"):
            read(path)


def test_a_gate_with_floors_for_other_classes_is_a_weights_error(tmp_path: Path) -> None:
    path = tmp_path / "floors.safetensors"
    gate = random_gate(replace(TRUSTING, min_class_confidence=(0.5, 0.5)))
    save_weights(path, build_model("paper_cnn"), _meta(), gate)

    for read in (load_weights, read_weights):
        with pytest.raises(WeightsError, match="2 class confidence floors for 3 classes"):
            read(path)


def test_export_fits_a_gate_and_evaluate_judges_it(manifest_dataset: Path, tmp_path: Path) -> None:
    source = tmp_path / "plain.safetensors"
    save_weights(source, build_model("paper_cnn"), _meta())
    release = tmp_path / "gated.safetensors"

    common = ["--data", str(manifest_dataset)]
    run(["export", "--weights", str(source), "--out", str(release), "--version", "2.0.0", *common,
         "--scope-epochs", "1", "--scope-per-kind", "4"])  # fmt: skip
    run(["evaluate", "--weights", str(release), "--out", str(tmp_path / "eval"), "--device", "cpu", *common,
         "--gate-shift-images", "4", "--gate-negatives", "2"])  # fmt: skip

    header = json.loads(read_header(release)["gate"])
    assert set(header["thresholds"]) == {
        "min_chest_xray",
        "max_distance",
        "min_typicality",
        "min_confidence",
        "min_class_confidence",
    }
    assert len(header["thresholds"]["min_class_confidence"]) == len(CLASSES)
    assert header["monitor"] is None  # a handful of validation images: fewer than one window
    results = json.loads((tmp_path / "eval" / "gate.json").read_text())
    assert 0 <= results["validation"]["out_of_scope"] <= 1
    assert results["negatives"]["n_negatives"] > 0
    assert set(results["shifted"]) >= {"gamma", "jpeg"}
    assert (tmp_path / "eval" / "risk_coverage.png").stat().st_size > 0
    assert "## Input assessment" in (tmp_path / "eval" / "report.md").read_text()


def test_the_documented_reason_codes_are_exactly_the_enum() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "assessment.md").read_text()
    section = text.split("## Reason codes", 1)[1].split("\n## ", 1)[0]
    documented = [line.split("`")[1] for line in section.splitlines() if line.startswith("| `")]

    assert documented == [reason.value for reason in Reason]
