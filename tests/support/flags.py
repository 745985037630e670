"""Made-up parts for the flag measurements (:mod:`ml.studies.flag_candidates`, its kin)."""

from __future__ import annotations

import numpy as np
import torch

from ml.studies.flag_candidates import Part


def random_part(n: int, shift: float, seed: int) -> Part:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    probs = rng.dirichlet(np.ones(3) * 0.3, n)
    taps = [torch.from_numpy(rng.normal(shift, 1, (n, d)).astype(np.float32)) for d in (4, 8)]
    none = np.zeros(n, dtype=bool)
    return Part(labels, np.array(["a", "b"] * (n // 2)), probs, taps, none, none)
