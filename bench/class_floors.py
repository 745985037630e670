"""Low-confidence floors per answered class, with and without typicality: ``python -m bench.class_floors``.

A single confidence threshold spends the validation side's "uncertain" budget on the class the model is
least sure of in distribution (Viral Pneumonia), while the confident errors on other hospitals' films are
Normal and COVID answers. Here each class flags the same share ``q`` of its own answers on the ``assess``
half (the floors :func:`ml.gate.fit.class_confidence` chooses), for several ``q``, with the typicality flag
off and at the 5% it had until 1.3.0. The served out-of-scope decision is kept in every row. As in
:mod:`bench.flag_candidates`, external-dev only reads the result: no threshold is fitted to it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.flag_candidates import Part, features, make_part, quality, render
from bench.gated import load_gated, measurement_parser
from ml.data import discover, read_split, validation_halves
from ml.gate.fit import class_confidence
from ml.model import LoadedWeights

SHARES = (0.04, 0.06, 0.08, 0.10)
TYPICALITY = (0.0, 0.01, 0.02, 0.05)


def typicality(weights: LoadedWeights, arrays: dict[str, np.ndarray]) -> np.ndarray:
    assert weights.gate is not None
    taps = [torch.from_numpy(arrays[f"tap{i}"]) for i in range(sum(k.startswith("tap") for k in arrays))]
    scope = torch.from_numpy(arrays["scope"]).float()
    return np.asarray(weights.gate.signals(scope, taps).typicality.numpy())


def uncertain(part: Part, typical: np.ndarray, floors: np.ndarray, min_typicality: float) -> np.ndarray:
    low = part.probs.max(1) < floors[part.probs.argmax(1)]
    return np.asarray(~part.out_of_scope & (low | (typical < min_typicality)))


def measure(
    weights: LoadedWeights, data: Path, split: Path, external: Path, cache: Path | None
) -> dict[str, Any]:
    _, val_samples = read_split(split, discover(data).root)
    assess_paths = {s.path for s in validation_halves(val_samples)[1]}
    in_assess = np.array([s.path in assess_paths for s in val_samples])
    val_arrays = features(weights, val_samples, ["validation"] * len(val_samples), cache, "val")
    val = make_part(weights, val_arrays)
    val.sources = np.where(in_assess, "assess", "select")
    ext_samples = discover(external).samples
    ext_arrays = features(weights, ext_samples, [s.source for s in ext_samples], cache, "ext")
    ext = make_part(weights, ext_arrays)
    val_typical, ext_typical = typicality(weights, val_arrays), typicality(weights, ext_arrays)
    results: dict[str, Any] = {
        "served": {
            "validation": quality(val, val.served_uncertain),
            "external": quality(ext, ext.served_uncertain),
        }
    }
    for min_typicality in TYPICALITY:
        for share in SHARES:
            floors = np.array(class_confidence(val.probs[in_assess], share))
            flag = f"{min_typicality:.0%}" if min_typicality else "off"
            name = f"floors {share:.0%} per class, typicality {flag}"
            results[name] = {
                "floors": floors.tolist(),
                "validation": quality(val, uncertain(val, val_typical, floors, min_typicality)),
                "external": quality(ext, uncertain(ext, ext_typical, floors, min_typicality)),
            }
    return results


def main(argv: list[str] | None = None) -> None:
    args = measurement_parser("python -m bench.class_floors", __doc__).parse_args(argv)
    results = measure(load_gated(args.weights), args.data, args.split, args.external, args.cache)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(render(results))


if __name__ == "__main__":
    main()
