"""A nearest-neighbour density of the features as an uncertain flag: ``python -m bench.knn_flag``.

The served typicality and :mod:`bench.flag_candidates` model each block's pooled features with Gaussians
(one per class, or one for all). A Gaussian can call an image typical that sits between the training
data's clusters, or in a thin part of one; the distance to the nearest training images cannot. Each
candidate here scores an image by the mean cosine distance of its pooled block features (each block
scaled to unit length) to its ``k`` nearest neighbours among the same 4,000 training-side images the
gate's statistics come from (Sun et al., "Out-of-distribution detection with deep nearest neighbors",
ICML 2022), for block 1, blocks 1-2 (style), block 4 (content) and all blocks together.

Thresholds and the report are :mod:`bench.flag_candidates`' own: each candidate keeps the served
out-of-scope decision and the per-class low-confidence floors, replaces the typicality flag, and takes
its threshold from the validation side's ``assess`` half (flagging 2, 3 or 5% of it alone, or as much as
keeps it at 10% uncertain with the floors); external-dev only reads the result.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.flag_candidates import (
    Part,
    both_sides,
    fit_part,
    flags,
    limit_threshold,
    load_parts,
    served_floors,
)
from bench.flag_report import render
from bench.gated import load_gated, measurement_parser
from ml.model import LoadedWeights

K = 10
ALONE = (0.02, 0.03, 0.05)
"""Shares of the ``assess`` half each candidate flags on its own (the served typicality flags 2%)."""
BLOCK_SETS = {"block 1": (0,), "blocks 1-2": (0, 1), "block 4": (3,), "all blocks": (0, 1, 2, 3)}


def unit_features(part: Part, blocks: tuple[int, ...]) -> torch.Tensor:
    """The chosen blocks' pooled features, each block scaled to unit length, side by side."""
    chosen = [torch.nn.functional.normalize(part.taps[b].float(), dim=1) for b in blocks]
    return torch.cat(chosen, dim=1).div(len(blocks) ** 0.5)


def knn_distance(queries: torch.Tensor, bank: torch.Tensor, k: int = K) -> np.ndarray:
    """Mean cosine distance of each query to its ``k`` nearest rows of ``bank`` (both unit length)."""
    out = [
        (1 - (queries[start : start + 1024] @ bank.T).topk(min(k, len(bank)), dim=1).values).mean(dim=1)
        for start in range(0, len(queries), 1024)
    ]
    return torch.cat(out).numpy() if out else np.zeros(0)


def measure(
    weights: LoadedWeights, data: Path, split: Path, external: Path, cache: Path | None
) -> dict[str, Any]:
    val, in_assess, ext, train = load_parts(weights, data, split, external, cache)
    assess, fit, floors = val.take(in_assess), fit_part(weights, train, cache), served_floors(weights)
    results: dict[str, Any] = {"served": both_sides(val, ext, val.served_uncertain, ext.served_uncertain)}
    for name, blocks in BLOCK_SETS.items():
        bank = unit_features(fit, blocks)
        score = knn_distance(unit_features(val, blocks), bank)
        ext_score = knn_distance(unit_features(ext, blocks), bank)
        alone = [(f"{a:.0%} alone", float(np.quantile(score[in_assess], 1 - a))) for a in ALONE]
        for rule, threshold in (
            *alone,
            ("10% limit", limit_threshold(assess, score[in_assess], floors, 0.10)),
        ):
            u = flags(val, score, threshold, floors), flags(ext, ext_score, threshold, floors)
            results[f"{K}-NN, {name} ({rule})"] = {"threshold": threshold, **both_sides(val, ext, *u)}
    return results


def main(argv: list[str] | None = None) -> None:
    args = measurement_parser("python -m bench.knn_flag", __doc__).parse_args(argv)
    results = measure(load_gated(args.weights), args.data, args.split, args.external, args.cache)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(render(results))


if __name__ == "__main__":
    main()
