"""Low-confidence floors per answered class, with and without typicality:
``python -m ml.studies.class_floors``.

A single confidence threshold spends the validation side's "uncertain" budget on the class the model is
least sure of in distribution (Viral Pneumonia), while the confident errors on other hospitals' films are
Normal and COVID answers. Here each class flags the same share ``q`` of its own answers on the ``assess``
half (the floors :func:`ml.gate.fit.class_confidence` chooses), for several ``q``, with the typicality flag
off and at several shares up to the 5% it had until 1.3.0. The served out-of-scope decision is kept in
every row. As in :mod:`ml.studies.flag_candidates`, external-dev only reads the result: no threshold is fitted
to it. ``--shift-images N`` adds the robustness suite: the same N validation images as ``ml evaluate``
under each shift at severity 2, pooled over the shifts (source ``all``).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml.data import Sample, discover, read_split, validation_halves
from ml.gate.data import decode_samples, shifted
from ml.gate.evaluate import assess_images
from ml.gate.fit import class_confidence
from ml.model import LoadedWeights
from ml.model.gate import Gate
from ml.robustness.shifts import SHIFTS, apply_shift
from ml.studies.flag_candidates import Part, both_sides, features, make_part, quality, served_floors
from ml.studies.flag_report import render
from ml.studies.gated import load_gated, measurement_parser

SHARES = (0.04, 0.06, 0.08)
TYPICALITY = (0.0, 0.01, 0.02, 0.05)


def typicality(weights: LoadedWeights, arrays: dict[str, np.ndarray]) -> np.ndarray:
    assert weights.gate is not None
    taps = [torch.from_numpy(arrays[f"tap{i}"]) for i in range(sum(k.startswith("tap") for k in arrays))]
    scope = torch.from_numpy(arrays["scope"]).float()
    return np.asarray(weights.gate.signals(scope, taps).typicality.numpy())


def uncertain(part: Part, typical: np.ndarray, floors: np.ndarray, min_typicality: float) -> np.ndarray:
    low = part.probs.max(1) < floors[part.probs.argmax(1)]
    return np.asarray(~part.out_of_scope & (low | (typical < min_typicality)))


def suite(weights: LoadedWeights, samples: list[Sample], n: int, seed: int = 1) -> tuple[Part, np.ndarray]:
    """The same ``n`` images and shifts as ``ml evaluate --gate-shift-images n`` (severity 2), judged by the
    served out-of-scope decision alone; the probabilities and typicality are kept for the rows to judge."""
    assert weights.gate is not None
    config = weights.gate.config
    open_thresholds = replace(
        config.thresholds, min_typicality=0.0, min_confidence=0.0, min_class_confidence=()
    )
    gate = Gate(
        replace(config, thresholds=open_thresholds),
        weights.gate.scope,
        weights.gate.distance,
        weights.gate.familiarity,
    )
    val = decode_samples(samples)
    chosen = np.random.default_rng(seed).permutation(len(val.pixels))[:n]
    parts, typical = [], []
    for name in SHIFTS:
        rng = np.random.default_rng(seed)
        images = [apply_shift(shifted(val.pixels[i], rng, 0.0), name, 2, rng) for i in chosen]
        meta = weights.metadata
        run = assess_images(weights.model, gate, meta.preprocessing, meta.temperature, images)
        none = np.zeros(len(chosen), dtype=bool)
        parts.append(
            Part(val.labels[chosen], np.array([name] * len(chosen)), run.probs, [], run.out_of_scope, none)
        )
        typical.append([a.scores["typicality"] or 0.0 for a in run.assessments])

    def joined(field: str) -> np.ndarray:
        return np.concatenate([getattr(p, field) for p in parts])

    pooled = Part(
        joined("labels"),
        joined("sources"),
        joined("probs"),
        [],
        joined("out_of_scope"),
        joined("served_uncertain"),
    )
    return pooled, np.concatenate(typical)


def measure(
    weights: LoadedWeights,
    data: Path,
    split: Path,
    external: Path,
    cache: Path | None,
    shift_images: int = 0,
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
    results: dict[str, Any] = {"served": both_sides(val, ext, val.served_uncertain, ext.served_uncertain)}
    shifts = suite(weights, val_samples, shift_images) if shift_images else None
    if shifts is not None:
        assert weights.gate is not None
        t = weights.gate.config.thresholds
        served = uncertain(shifts[0], shifts[1], served_floors(weights), t.min_typicality)
        results["served"]["shifted"] = quality(shifts[0], served)["all"]
    for min_typicality in TYPICALITY:
        for share in SHARES:
            floors = np.array(class_confidence(val.probs[in_assess], share))
            flag = f"{min_typicality:.0%}" if min_typicality else "off"
            name = f"floors {share:.0%} per class, typicality {flag}"
            u = (
                uncertain(val, val_typical, floors, min_typicality),
                uncertain(ext, ext_typical, floors, min_typicality),
            )
            results[name] = {"floors": floors.tolist(), **both_sides(val, ext, *u)}
            if shifts is not None:
                flagged = uncertain(shifts[0], shifts[1], floors, min_typicality)
                results[name]["shifted"] = quality(shifts[0], flagged)["all"]
    return results


def render_shifted(results: dict[str, Any]) -> str:
    """The suite's pooled row per flag (empty without ``--shift-images``)."""
    if "shifted" not in results["served"]:
        return ""
    lines = ["| flag | suite: unflagged | accuracy unflagged | errors flagged |", "| --- | --- | --- | --- |"]
    for name, r in results.items():
        q = r["shifted"]
        cells = [q["unflagged"], q["accuracy_unflagged"], q["errors_flagged"]]
        lines.append(
            f"| {name} | " + " | ".join("–" if c is None else f"{100 * c:.1f}%" for c in cells) + " |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = measurement_parser("python -m ml.studies.class_floors", __doc__)
    parser.add_argument("--shift-images", type=int, default=0, help="validation images under each shift")
    args = parser.parse_args(argv)
    weights = load_gated(args.weights)
    results = measure(weights, args.data, args.split, args.external, args.cache, args.shift_images)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(render(results))
    print(render_shifted(results))


if __name__ == "__main__":
    main()
