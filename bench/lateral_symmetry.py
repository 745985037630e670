"""Could left-right symmetry tell a lateral film from a frontal one? ``python -m bench.lateral_symmetry``.

A frontal chest film shows two lung fields either side of the spine; a lateral one shows one broad field
with the spine at an edge. Two cheap statistics of the scope classifier's input (the whole image at 96 x 96,
:func:`ml.preprocessing_np.scope_input`) measure that, with no model:

* ``mirror``: the correlation of the image with its left-right mirror image;
* ``profile``: the correlation of the column-mean profile (the middle 60% of rows) with its reverse.

A check would put an image out of scope below a threshold that keeps 99% of real frontal films (the 1%
quantile of the validation images). This prints each statistic's 1%, 50% and 99% quantiles for validation
films, external-dev per source, CT renderings per view and real negatives per kind, and the share of each
set that such a threshold would put out of scope. It fits nothing and changes nothing served.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bench.inputs import DEFAULT_DATA_DIR
from harness.live import REPO
from ml.data import decode_gray, discover, read_split
from ml.gate.drr import render
from ml.gate.shared import load_shared, shared_root
from ml.preprocessing_np import scope_input

STATISTICS = ("mirror", "profile")


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum() + 1e-12))


def symmetry(pixels: np.ndarray) -> tuple[float, float]:
    """``(mirror, profile)`` of one grayscale image ``[H, W]`` in [0, 1]."""
    x = scope_input(pixels.astype(np.float32), 96)[0]
    rows = x.shape[0]
    profile = x[rows // 5 : rows - rows // 5].mean(axis=0)
    return _correlation(x, x[:, ::-1]), _correlation(profile, profile[::-1])


def collect(data: Path, split: Path, per_set: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    sets: dict[str, list[np.ndarray]] = {}
    _, val = read_split(split, discover(data).root)
    sets["validation"] = [decode_gray(val[i].path) for i in rng.permutation(len(val))[:per_set]]
    external = data.parent / "external-dev"
    if (external / "manifest.csv").is_file():
        for sample in discover(external).samples:
            sets.setdefault(f"external-dev {sample.source}", []).append(decode_gray(sample.path))
    for held_out in (False, True):
        part = "held out" if held_out else "training part"
        shared = load_shared(shared_root(data), held_out=held_out)
        for view in ("frontal", "lateral", "oblique"):
            draws = max(1, per_set // max(1, len(shared.volumes)) // 4)
            renders = [render(v, view, rng) for v in shared.volumes for _ in range(draws)]
            if renders:
                sets[f"CT rendering {view}, {part}"] = renders
        for kind, images in shared.negatives.items():
            sets[f"real {kind}, {part}"] = images
    return {name: np.array([symmetry(p) for p in pixels]) for name, pixels in sets.items()}


def table(values: dict[str, np.ndarray]) -> str:
    cut = np.quantile(values["validation"], 0.01, axis=0)
    head = "| set | n | " + " | ".join(
        f"{s} q01 / median / q99 | {s} below {c:.3f}" for s, c in zip(STATISTICS, cut, strict=True)
    )
    lines = [head + " |", "|" + " --- |" * (2 + 2 * len(STATISTICS))]
    for name, v in values.items():
        cells = [
            " / ".join(f"{q:.3f}" for q in np.quantile(v[:, i], (0.01, 0.5, 0.99)))
            + f" | {100 * float((v[:, i] < cut[i]).mean()):.1f}%"
            for i in range(len(STATISTICS))
        ]
        lines.append(f"| {name} | {len(v)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.lateral_symmetry", description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--split", type=Path, default=REPO / "weights" / "validation" / "split.csv")
    parser.add_argument(
        "--per-set", type=int, default=500, help="validation images, and CT renderings per view"
    )
    args = parser.parse_args(argv)
    print(table(collect(args.data, args.split, args.per_set)))


if __name__ == "__main__":
    main()
