"""The nearest-neighbour flag measurement: its distance, and the whole measurement on a small random network
and generated images (no real image)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.flag_report import render
from bench.knn_flag import ALONE, BLOCK_SETS, knn_distance, measure, unit_features
from ml.model import load_weights
from tests.support.datasets import write_measurement_set
from tests.support.flags import random_part
from tests.support.weights import write_random_weights


def test_an_image_among_the_training_features_is_nearer_than_one_away_from_them() -> None:
    bank = torch.nn.functional.normalize(
        torch.randn(200, 16, generator=torch.Generator().manual_seed(0)), dim=1
    )
    away = torch.nn.functional.normalize(-bank.mean(0, keepdim=True) + 0.01, dim=1)

    near, far = knn_distance(bank[:5], bank, k=1), knn_distance(away, bank, k=1)

    assert np.allclose(near, 0.0, atol=1e-5)
    assert far[0] > near.max() + 0.1


def test_the_blocks_chosen_together_make_one_unit_vector_each_block_weighing_the_same() -> None:
    part = random_part(6, 0.0, 0)

    joined = unit_features(part, (0, 1))

    assert joined.shape == (6, 4 + 8)
    assert torch.allclose(joined.norm(dim=1), torch.ones(6))
    assert torch.allclose(joined[:, :4].norm(dim=1), joined[:, 4:].norm(dim=1))


def test_the_measurement_sets_each_threshold_on_the_assess_half(tmp_path: Path) -> None:
    sets = write_measurement_set(tmp_path)
    weights = load_weights(write_random_weights(tmp_path / "w.safetensors"))

    results = measure(weights, sets.data, sets.split, sets.external, None)

    limited = [r for name, r in results.items() if name.endswith("(10% limit)")]
    assert len(limited) == len(BLOCK_SETS) and len(results) == 1 + (len(ALONE) + 1) * len(BLOCK_SETS)
    assert all(r["validation"]["assess"]["uncertain"] <= 0.10 for r in limited)
    assert set(results["served"]["external"]) == {"site0", "site1", "all"}
    assert "| 10-NN, block 4 (5% alone) |" in render(results)
