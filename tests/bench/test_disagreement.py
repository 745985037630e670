"""The disagreement flag's measurement: its scores on made-up probabilities, and the whole measurement on
small random networks and generated images (no real image)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.disagreement import UNCERTAIN_LIMIT, limit_threshold, measure, scores, with_flag
from bench.flag_report import render
from ml.model import load_weights
from tests.support.datasets import write_measurement_set
from tests.support.flags import random_part
from tests.support.weights import write_random_weights


def test_scores_rise_where_the_others_disagree_with_the_served_answer() -> None:
    served = np.array([[0.9, 0.05, 0.05], [0.9, 0.05, 0.05]])
    agree = np.array([[0.8, 0.1, 0.1], [0.8, 0.1, 0.1]])
    differ = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1]])

    out = scores(served, [agree, differ])

    assert out["any disagrees"].tolist() == [0.0, 1.0]
    assert out["support < t"][1] > out["support < t"][0]
    assert out["ensemble max < t"][1] > out["ensemble max < t"][0]


def test_the_threshold_keeps_the_uncertain_share_within_the_limit() -> None:
    part = random_part(400, 0.0, 0)
    score = np.random.default_rng(1).random(400)

    threshold = limit_threshold(part, score)

    assert with_flag(part, score, threshold).mean() <= UNCERTAIN_LIMIT
    assert with_flag(part, score, threshold - 0.01).mean() > UNCERTAIN_LIMIT - 0.02


def test_the_measurement_reports_each_candidate_per_source(tmp_path: Path) -> None:
    sets = write_measurement_set(tmp_path)
    served = load_weights(write_random_weights(tmp_path / "w.safetensors"))
    other = load_weights(write_random_weights(tmp_path / "o.safetensors", gate=None))

    measured = measure(served, [other], sets.data, sets.split, sets.external, None)
    results = measured["flags"]

    candidates = ("any disagrees", "support < t", "ensemble max < t")
    assert set(results) == {"served", *(f"served + {name}" for name in candidates)}
    for name, r in results.items():
        assert set(r["external"]) == {"site0", "site1", "all"}, name
        if name not in ("served", "served + any disagrees"):
            assert r["validation"]["assess"]["uncertain"] <= UNCERTAIN_LIMIT or r["threshold"] == 1.0
    # The same network twice never disagrees: the vote adds no flag.
    same = results["served + any disagrees"]
    assert same["threshold"] == 0.5 and same["validation"] == results["served"]["validation"]
    assert "| served + any disagrees |" in render(results)
    assert set(measured["votes"]) == {"assess", "select", "site0", "site1"}
    assert all(v["all_agree"] == 1.0 and v["errors_any_dissent"] == 0 for v in measured["votes"].values())
