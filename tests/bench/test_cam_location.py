"""Grad-CAM location as a sign of a wrong answer: the map summaries, and the measurement on a small random
network and generated images (no real image)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.cam_location import SUMMARIES, cam_summaries, main, measure, render
from ml.model import load_weights
from tests.support.datasets import write_measurement_set
from tests.support.weights import write_random_weights


def test_a_map_on_the_chest_has_no_border_mass_and_one_in_a_corner_has_all() -> None:
    maps = np.zeros((3, 28, 28))
    maps[0, 13:15, 13:15] = 1.0
    maps[1, 0:2, 0:2] = 1.0

    s = cam_summaries(maps)

    assert s["border"][0] == 0.0 and s["off_centre"][0] < 0.05
    assert s["border"][1] == 1.0 and s["off_centre"][1] > 1.0 and s["top"][1] == 1.0
    assert s["spread"][0] == pytest.approx(4 / 784)
    assert all(s[name][2] == 0.0 for name in SUMMARIES)


def test_the_measurement_reads_validation_and_each_source_and_caches(tmp_path: Path) -> None:
    sets = write_measurement_set(tmp_path)
    weights = load_weights(write_random_weights(tmp_path / "w.safetensors"))

    rows = measure(weights, sets.data, sets.split, sets.external, tmp_path / "cache")
    again = measure(weights, sets.data, sets.split, sets.external, tmp_path / "cache")

    assert rows == again and len(list((tmp_path / "cache").glob("cam-*.npz"))) == 2
    assert {"assess", "external-dev", "external-dev, site0", "external-dev, site1"} <= set(rows)
    assert rows["external-dev"]["n"] == sum(
        r["n"] for k, r in rows.items() if k.startswith("external-dev, s")
    )
    for r in rows.values():
        assert all(r[name] is None or 0.0 <= r[name] <= 1.0 for name in SUMMARIES)
    assert render(rows).count("\n") == len(rows) + 2


def test_the_command_writes_its_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sets = write_measurement_set(tmp_path)
    weights = write_random_weights(tmp_path / "w.safetensors")
    out = tmp_path / "rows.json"

    main(["--weights", str(weights), "--data", str(sets.data), "--split", str(sets.split),
          "--external", str(sets.external), "--out", str(out)])  # fmt: skip

    assert out.stat().st_size > 0 and "| assess |" in capsys.readouterr().out
