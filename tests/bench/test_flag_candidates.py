"""The flag-candidate measurement's own arithmetic, on random features (no image, no model)."""

from __future__ import annotations

import numpy as np
import torch

from bench.flag_candidates import Part, candidates, flags, limit_threshold, quality
from ml.model.distance import fit_layer


def random_part(n: int, shift: float, seed: int) -> Part:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    probs = rng.dirichlet(np.ones(3) * 0.3, n)
    taps = [torch.from_numpy(rng.normal(shift, 1, (n, d)).astype(np.float32)) for d in (4, 8)]
    none = np.zeros(n, dtype=bool)
    return Part(labels, np.array(["a", "b"] * (n // 2)), probs, taps, none, none)


def test_the_limit_threshold_flags_as_much_as_the_validation_limit_allows() -> None:
    val = random_part(400, 0.0, 0)
    score = np.random.default_rng(1).random(400)

    threshold = limit_threshold(val, score, min_confidence=0.5, limit=0.6)
    share = flags(val, score, threshold, 0.5).mean()

    assert share <= 0.6
    assert flags(val, score, threshold - 0.02, 0.5).mean() > share - 0.05


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

    assert set(out) == {"a", "b"}
    assert out["a"]["unflagged"] == 1.0 and out["a"]["errors_flagged"] == 0.0
