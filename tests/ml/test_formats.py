"""Each file format's name is defined once, and what a file's layout implies is read from the file."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from ml.model.distance import FeatureDistance, LayerStats
from ml.model.gate import Gate, GateConfig
from ml.model.scope import ScopeNet
from tests.support.gate import TRUSTING

ROOT = Path(__file__).resolve().parents[2]
FORMAT_LITERAL = re.compile(r"""["'](cxr-[a-z0-9-]+/\d+)["']""")


def test_each_format_name_is_written_once_in_the_code() -> None:
    found: dict[str, list[str]] = {}
    for package in ("ml", "service", "bench"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for name in FORMAT_LITERAL.findall(path.read_text(encoding="utf-8")):
                found.setdefault(name, []).append(str(path.relative_to(ROOT)))

    assert "cxr-checkpoint/1" in found and "cxr-gate/1" in found
    assert {name: places for name, places in found.items() if len(places) > 1} == {}


def test_a_gate_keeps_the_number_of_distance_layers_it_was_fitted_with() -> None:
    widths = (8, 16, 32)
    layers = [LayerStats(torch.randn(3, width), torch.eye(width)) for width in widths]
    distance = FeatureDistance(layers=layers, reference=torch.linspace(0.5, 2.0, 11))
    gate = Gate(GateConfig(thresholds=TRUSTING), ScopeNet().eval(), distance)

    loaded = Gate.from_tensors(GateConfig.from_json(gate.config.to_json()), gate.to_tensors(), classes=3)

    assert [stats.means.shape[1] for stats in loaded.distance.layers] == list(widths)
