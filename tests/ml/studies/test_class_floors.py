"""The per-class confidence floors measurement, on a small random network and generated images."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ml.model import load_weights
from ml.robustness.shifts import SHIFTS
from ml.studies.class_floors import SHARES, TYPICALITY, measure, render_shifted, uncertain
from ml.studies.flag_report import render
from tests.support.datasets import write_measurement_set
from tests.support.flags import random_part
from tests.support.weights import write_random_weights


def test_an_answer_is_uncertain_below_its_class_floor_or_when_atypical() -> None:
    part = random_part(300, 0.0, 4)
    answers = part.probs.argmax(1)
    floors = np.array([0.0, 1.01, 0.0])  # only the second class is doubted
    typical = np.linspace(0, 1, 300)

    assert np.array_equal(uncertain(part, typical, floors, 0.0), ~part.out_of_scope & (answers == 1))
    doubted = uncertain(part, typical, np.zeros(3), 0.2)
    assert np.array_equal(doubted, ~part.out_of_scope & (typical < 0.2))


def test_every_share_and_typicality_setting_gets_a_row(tmp_path: Path) -> None:
    sets = write_measurement_set(tmp_path)
    weights = load_weights(write_random_weights(tmp_path / "w.safetensors"))

    results = measure(weights, sets.data, sets.split, sets.external, None, shift_images=2)

    assert len(results) == 1 + len(SHARES) * len(TYPICALITY)
    for row in results.values():
        assert set(row["external"]) == {"site0", "site1", "all"}
        assert row["shifted"]["n"] == 2 * len(SHIFTS)  # the same two images under every shift
    for flag in ("off", "1%", "5%"):
        rows = [results[f"floors {share:.0%} per class, typicality {flag}"] for share in SHARES]
        assert all(len(r["floors"]) == 3 for r in rows)
        flagged = [r["validation"]["assess"]["uncertain"] for r in rows]
        # A larger share raises every class's floor, so never flags fewer of the half it was chosen on.
        assert flagged == sorted(flagged)
    assert "| floors 8% per class, typicality off |" in render(results)
    assert "| floors 8% per class, typicality off |" in render_shifted(results)
