"""The flag-candidate measurement: its arithmetic on random features, and the whole measurement on a small
random network and generated images (no real image)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ml.data import validation_halves
from ml.model import load_weights
from ml.model.distance import fit_layer
from ml.studies.flag_candidates import candidates, flags, limit_threshold, measure, quality
from ml.studies.flag_report import misses, render
from tests.support.datasets import write_measurement_set
from tests.support.flags import random_part
from tests.support.weights import write_random_weights


def test_the_limit_threshold_flags_as_much_as_the_validation_limit_allows() -> None:
    val = random_part(400, 0.0, 0)
    score = np.random.default_rng(1).random(400)

    floors = np.full(3, 0.5)

    threshold = limit_threshold(val, score, floors, limit=0.6)
    share = flags(val, score, threshold, floors).mean()

    assert share <= 0.6
    assert flags(val, score, threshold - 0.02, floors).mean() > share - 0.05


def test_candidates_score_images_unlike_the_validation_split_as_stranger() -> None:
    val, far = random_part(400, 0.0, 0), random_part(400, 3.0, 1)
    labels = torch.from_numpy(val.labels)
    cond = [fit_layer(t, labels, 3) for t in val.taps]
    agnostic = [fit_layer(t, torch.zeros_like(labels), 1) for t in val.taps]

    near_scores, far_scores = candidates(cond, agnostic, val, val), candidates(cond, agnostic, far, val)

    assert near_scores.keys() == far_scores.keys()
    for name in near_scores:
        assert np.median(far_scores[name]) > np.median(near_scores[name]), name


def test_quality_is_reported_per_source() -> None:
    part = random_part(100, 0.0, 2)
    out = quality(part, np.zeros(100, dtype=bool))

    assert set(out) == {"a", "b", "all"}
    assert out["a"]["unflagged"] == 1.0 and out["a"]["errors_flagged"] == 0.0
    assert out["all"]["n"] == out["a"]["n"] + out["b"]["n"] == 100


def test_a_part_keeps_the_images_it_takes() -> None:
    part = random_part(10, 0.0, 3)
    mask = np.arange(10) % 3 == 0

    taken = part.take(mask)

    assert taken.labels.tolist() == part.labels[mask].tolist()
    assert [t.shape[0] for t in taken.taps] == [4, 4]
    assert torch.equal(taken.taps[1], part.taps[1][torch.from_numpy(mask)])


def result(
    select_uncertain: float, nih_accuracy: float | None, sbu_errors: float | None
) -> dict[str, object]:
    inside = {"out_of_scope": 0.01, "uncertain": 0.05}
    outside = {"unflagged": 0.5, "accuracy_unflagged": 0.9, "errors_flagged": 0.8}
    return {
        "validation": {"all": inside, "select": {**inside, "uncertain": select_uncertain}},
        "external": {
            "nih": {**outside, "accuracy_unflagged": nih_accuracy},
            "sbu": {**outside, "errors_flagged": sbu_errors},
        },
    }


def test_misses_names_every_target_missed_and_only_those() -> None:
    assert misses(result(0.05, 0.9, 0.8)) == []
    assert misses(result(0.05, 0.9, None)) == []  # no error to flag
    assert misses(result(0.12, 0.84, 0.69)) == [
        "validation select uncertain",
        "nih accuracy_unflagged",
        "sbu errors_flagged",
    ]


def test_the_measurement_sets_thresholds_on_the_assess_half(tmp_path: Path) -> None:
    sets = write_measurement_set(tmp_path)
    val = sets.val
    weights = load_weights(write_random_weights(tmp_path / "w.safetensors"))
    select, assess = validation_halves(val)

    results = measure(weights, sets.data, sets.split, sets.external, None, served_only=False)

    halves = results["served"]["validation"]
    assert (halves["select"]["n"], halves["assess"]["n"], halves["all"]["n"]) == (
        len(select),
        len(assess),
        len(val),
    )
    assert set(results["served"]["external"]) == {"site0", "site1", "all"}
    limited = [r for name, r in results.items() if name.endswith("(10% limit)")]
    alone = [r for name, r in results.items() if name.endswith("(5% alone)")]
    assert len(limited) == len(alone) == 14
    # The trusting gate flags nothing of its own, so a candidate's flags are its score's alone.
    assert all(r["validation"]["assess"]["uncertain"] <= 0.10 for r in limited)
    assert all(r["validation"]["assess"]["uncertain"] <= max(0.05, 1 / len(assess)) for r in alone)
    assert "| served |" in render(results)
