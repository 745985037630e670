"""Candidate "uncertain" flags measured on other hospitals' images: ``python -m ml.studies.flag_candidates``.

The served gate marks an in-scope answer uncertain when its calibrated confidence is low or when the
classifier's features, averaged over its four blocks, are atypical (:mod:`ml.model.distance`). The
candidates, scored without changing what is served: each block's distance alone (early blocks react to
intensity style), the most atypical block, and a class-agnostic density (one mean and covariance).

Each keeps the served out-of-scope decision and low-confidence flag and replaces the typicality flag by
``score > threshold``, set on the validation side's ``assess`` half only (:func:`ml.data.validation_halves`:
images that chose neither epoch nor temperature, as for the gate's own thresholds): so that it alone flags
5% of it (as the served typicality does), and so that its uncertain share is at most 10%. The ``select``
half and the whole side report in-distribution shares; ``external-dev``, a test set, only reads them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml.data import discover, read_split, validation_halves
from ml.evaluation.metrics import softmax
from ml.gate.data import Images, classifier_outputs, decode_samples, scope_batch
from ml.model import LoadedWeights
from ml.model.checks import ImageFacts
from ml.model.distance import LayerStats, fit_layer
from ml.model.gate import Gate
from ml.studies.flag_report import render
from ml.studies.gated import cached_arrays, load_gated, measurement_parser

DISTANCE_IMAGES = 4000
"""The training-side images the class-agnostic density is fitted on: the same draw as the gate's fit."""


@dataclass
class Part:
    """One set of images: labels, sources, calibrated probabilities, block features, served flags."""

    labels: np.ndarray
    sources: np.ndarray
    probs: np.ndarray
    taps: list[torch.Tensor]
    out_of_scope: np.ndarray
    served_uncertain: np.ndarray

    def take(self, mask: np.ndarray) -> Part:
        cut = {k: v[mask] for k, v in vars(self).items() if k != "taps"}
        return Part(**cut, taps=[t[torch.from_numpy(mask)] for t in self.taps])


def served_flags(
    gate: Gate, arrays: dict[str, np.ndarray], taps: list[torch.Tensor], probs: np.ndarray
) -> Any:
    """Out of scope and uncertain, as ``gate`` would serve them (``ml.gate.evaluate.assess_images``)."""
    scope_inputs = torch.from_numpy(arrays["scope"]).float()
    signals = gate.signals(scope_inputs, taps)
    assessments = [
        gate.assess(ImageFacts(int(h), int(w)), scope_inputs[i], signals, i, float(p.max()), int(p.argmax()))
        for i, ((h, w), p) in enumerate(zip(arrays["shape"], probs, strict=True))
    ]
    return np.array([not a.in_scope for a in assessments]), np.array([a.uncertain for a in assessments])


def features(
    weights: LoadedWeights,
    samples: list[Any],
    sources: list[str],
    cache: Path | None,
    name: str,
    decoded: Callable[[], Images] | None = None,
) -> dict[str, np.ndarray]:
    """Labels, sources, logits, block features, scope inputs and image shapes; cached per classifier.

    ``decoded`` gives ``samples`` decoded, for callers that score several classifiers on one set: called
    only when the cache misses, it can decode once for all of them."""

    def compute() -> dict[str, np.ndarray]:
        images = decoded() if decoded is not None else decode_samples(samples)
        logits, taps = classifier_outputs(weights.model, images.pixels, weights.metadata.preprocessing)
        return {
            "labels": images.labels,
            "sources": np.array(sources),
            "logits": logits,
            "scope": scope_batch(images.pixels).half().numpy(),
            "shape": np.array([p.shape for p in images.pixels]),
            **{f"tap{i}": t.numpy() for i, t in enumerate(taps)},
        }

    return cached_arrays(weights, cache, name, compute)


def served_floors(weights: LoadedWeights) -> np.ndarray:
    """The gate's low-confidence floor of each class."""
    assert weights.gate is not None
    return np.array(
        [weights.gate.config.thresholds.confidence_floor(k) for k in range(len(weights.metadata.classes))]
    )


def make_part(weights: LoadedWeights, arrays: dict[str, np.ndarray]) -> Part:
    assert weights.gate is not None
    taps = [torch.from_numpy(arrays[f"tap{i}"]) for i in range(sum(k.startswith("tap") for k in arrays))]
    probs = softmax(arrays["logits"], weights.metadata.temperature)
    oos, uncertain = served_flags(weights.gate, arrays, taps, probs)
    return Part(arrays["labels"], arrays["sources"], probs, taps, oos, uncertain)


def block_scores(layers: list[LayerStats], taps: list[torch.Tensor]) -> np.ndarray:
    """``[N, blocks]`` squared Mahalanobis distance per dimension, block by block."""
    return np.stack([s.distance(t).numpy() / t.shape[1] for s, t in zip(layers, taps, strict=True)], 1)


def candidates(
    cond: list[LayerStats], agnostic: list[LayerStats], part: Part, ref: Part
) -> dict[str, np.ndarray]:
    """Every candidate's score (higher = stranger) for ``part``; ranks are taken against ``ref``."""
    out: dict[str, np.ndarray] = {}
    for name, layers in (("class-conditional", cond), ("class-agnostic", agnostic)):
        here, base = block_scores(layers, part.taps), block_scores(layers, ref.taps)
        out[f"{name}, mean of blocks"] = here.mean(1)
        out.update({f"{name}, block {b + 1}": here[:, b] for b in range(here.shape[1])})
        out[f"{name}, blocks 1-2"] = here[:, :2].mean(1)
        ranks = np.stack([np.searchsorted(np.sort(base[:, b]), here[:, b]) for b in range(here.shape[1])], 1)
        out[f"{name}, most atypical block"] = ranks.max(1).astype(np.float64)
    return out


def flags(part: Part, score: np.ndarray, threshold: float, floors: np.ndarray) -> np.ndarray:
    """In-scope answers below their class's floor (``floors``: one per class) or beyond ``threshold``."""
    low = part.probs.max(1) < floors[part.probs.argmax(1)]
    return np.asarray(~part.out_of_scope & (low | (score > threshold)))


def limit_threshold(part: Part, score: np.ndarray, floors: np.ndarray, limit: float) -> float:
    """The lowest threshold (most flags) that keeps ``part``'s uncertain share at most ``limit``."""
    for q in np.linspace(0.5, 1.0, 501):
        threshold = float(np.quantile(score, q))
        if flags(part, score, threshold, floors).mean() <= limit:
            return threshold
    return float(score.max())


def quality(part: Part, uncertain: np.ndarray) -> dict[str, Any]:
    """Per source and for ``all`` of ``part``: shares flagged, and how good the unflagged answers are."""
    correct = part.probs.argmax(1) == part.labels
    flagged = part.out_of_scope | uncertain
    out: dict[str, Any] = {}
    masks = {str(s): part.sources == s for s in sorted(set(part.sources))}
    for source, m in {**masks, "all": np.ones(len(correct), dtype=bool)}.items():
        keep, wrong = m & ~flagged, m & ~correct
        out[source] = {
            "n": int(m.sum()),
            "out_of_scope": float(part.out_of_scope[m].mean()),
            "uncertain": float(uncertain[m].mean()),
            "unflagged": float(keep.sum() / m.sum()),
            "accuracy_unflagged": float(correct[keep].mean()) if keep.any() else None,
            "errors_flagged": float(flagged[wrong].mean()) if wrong.any() else None,
        }
    return out


def both_sides(val: Part, ext: Part, val_uncertain: np.ndarray, ext_uncertain: np.ndarray) -> dict[str, Any]:
    """:func:`quality` of one flag on validation and on external-dev."""
    return {"validation": quality(val, val_uncertain), "external": quality(ext, ext_uncertain)}


def load_parts(
    weights: LoadedWeights, data: Path, split: Path, external: Path, cache: Path | None
) -> tuple[Part, np.ndarray, Part, list[Any]]:
    """Validation (sources ``assess``/``select``), which of it is ``assess``, external-dev, training side."""
    train, val_samples = read_split(split, discover(data).root)
    assess_paths = {s.path for s in validation_halves(val_samples)[1]}
    in_assess = np.array([s.path in assess_paths for s in val_samples])
    val = make_part(weights, features(weights, val_samples, ["validation"] * len(val_samples), cache, "val"))
    val.sources = np.where(in_assess, "assess", "select")
    ext_samples = discover(external).samples
    ext = make_part(weights, features(weights, ext_samples, [s.source for s in ext_samples], cache, "ext"))
    return val, in_assess, ext, train


def fit_part(weights: LoadedWeights, train: list[Any], cache: Path | None) -> Part:
    """The training-side images the gate's statistics come from (the same draw)."""
    fit_samples = [train[i] for i in np.random.default_rng(0).permutation(len(train))[:DISTANCE_IMAGES]]
    return make_part(weights, features(weights, fit_samples, ["train"] * len(fit_samples), cache, "fit"))


def measure(
    weights: LoadedWeights, data: Path, split: Path, external: Path, cache: Path | None, served_only: bool
) -> dict[str, Any]:
    gate = weights.gate
    assert gate is not None
    val, in_assess, ext, train = load_parts(weights, data, split, external, cache)
    assess = val.take(in_assess)
    results: dict[str, Any] = {"served": both_sides(val, ext, val.served_uncertain, ext.served_uncertain)}
    if served_only:
        return results
    fit = fit_part(weights, train, cache)
    agnostic = [fit_layer(t, torch.zeros(len(t), dtype=torch.long), 1) for t in fit.taps]
    cond, min_conf = gate.distance.layers, served_floors(weights)
    val_scores, ext_scores = candidates(cond, agnostic, val, assess), candidates(cond, agnostic, ext, assess)
    for name, score in val_scores.items():
        for rule, threshold in (
            ("5% alone", float(np.quantile(score[in_assess], 0.95))),
            ("10% limit", limit_threshold(assess, score[in_assess], min_conf, 0.10)),
        ):
            u = flags(val, score, threshold, min_conf), flags(ext, ext_scores[name], threshold, min_conf)
            results[f"{name} ({rule})"] = {"threshold": threshold, **both_sides(val, ext, *u)}
    return results


def main(argv: list[str] | None = None) -> None:
    parser = measurement_parser("python -m ml.studies.flag_candidates", __doc__)
    parser.add_argument("--served-only", action="store_true", help="only the weights' own gate")
    args = parser.parse_args(argv)
    weights = load_gated(args.weights)
    results = measure(weights, args.data, args.split, args.external, args.cache, args.served_only)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(render(results))


if __name__ == "__main__":
    main()
