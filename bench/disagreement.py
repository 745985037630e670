"""Disagreement between classifiers as an "uncertain" flag: ``python -m bench.disagreement``.

The served weights answer; other classifiers trained from the same start with other recipes (the v2
candidates, the long run) vote beside them. Where they disagree with the served answer, the answer is
epistemically uncertain: the training data did not pin it down. Scored without changing what is served,
as :mod:`bench.flag_candidates` scores feature densities:

- ``any disagrees``: some other classifier's top class differs from the served one;
- ``support < t``: the others' mean probability for the served class is below ``t``;
- ``ensemble max < t``: the mean of all probabilities (served included) has its maximum below ``t``.

Each adds its flag to the served gate's (out of scope, low confidence, atypical features). ``t`` is set on
the validation side's ``assess`` half so that the uncertain share stays at most 10% there (``any disagrees``
flags every disagreement, whatever that costs there); ``select`` and the whole side report in-distribution
shares; ``external-dev``, a test set, only reads them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.flag_candidates import Part, both_sides, features, make_part
from bench.flag_report import render
from bench.gated import load_gated, measurement_parser
from ml.data import discover, read_split, validation_halves
from ml.evaluation.metrics import softmax
from ml.gate.data import Images, decode_samples
from ml.model import LoadedWeights, load_weights

UNCERTAIN_LIMIT = 0.10
VOTE = 0.5
"""``any disagrees`` is a vote, not a score to set a threshold on: it flags every disagreement, and the
validation side shows what that costs in distribution."""


def probabilities(
    weights: LoadedWeights, samples: list[Any], cache: Path | None, name: str, decoded: Callable[[], Images]
) -> np.ndarray:
    arrays = features(weights, samples, ["-"] * len(samples), cache, name, decoded)
    return softmax(arrays["logits"], weights.metadata.temperature)


def scores(served: np.ndarray, others: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Each candidate's score, higher = less certain."""
    answer = served.argmax(1)
    rows = np.arange(len(served))
    votes = np.stack([o.argmax(1) for o in others])
    support = np.mean([o[rows, answer] for o in others], axis=0)
    ensemble = np.mean([served, *others], axis=0)
    return {
        "any disagrees": (votes != answer).any(0).astype(np.float64),
        "support < t": 1 - support,
        "ensemble max < t": 1 - ensemble.max(1),
    }


def votes(part: Part, served: np.ndarray, others: list[np.ndarray]) -> dict[str, Any]:
    """Per source: how often all classifiers agree, and how many of the served errors draw a dissent."""
    answer = served.argmax(1)
    dissent = np.stack([o.argmax(1) != answer for o in others]).sum(0)
    wrong = answer != part.labels
    ensemble_right = np.mean([served, *others], axis=0).argmax(1) == part.labels
    out: dict[str, Any] = {}
    for source in sorted(set(part.sources.tolist())):
        m = part.sources == source
        errors = m & wrong
        out[source] = {
            "n": int(m.sum()),
            "all_agree": float((dissent[m] == 0).mean()),
            "errors": int(errors.sum()),
            "errors_any_dissent": int((errors & (dissent > 0)).sum()),
            "errors_3_dissent": int((errors & (dissent >= 3)).sum()),
            "served_accuracy": float(1 - wrong[m].mean()),
            "ensemble_accuracy": float(ensemble_right[m].mean()),
        }
    return out


def with_flag(part: Part, score: np.ndarray, threshold: float) -> np.ndarray:
    return np.asarray(part.served_uncertain | (~part.out_of_scope & (score > threshold)))


def limit_threshold(part: Part, score: np.ndarray) -> float:
    """The lowest threshold that keeps ``part``'s uncertain share at most the limit."""
    for threshold in sorted(set(np.round(score, 4).tolist())):
        if with_flag(part, score, threshold).mean() <= UNCERTAIN_LIMIT:
            return float(threshold)
    return float(score.max())


def measure(
    weights: LoadedWeights,
    others: list[LoadedWeights],
    data: Path,
    split: Path,
    external: Path,
    cache: Path | None,
) -> dict[str, Any]:
    _, val_samples = read_split(split, discover(data).root)
    assess_paths = {s.path for s in validation_halves(val_samples)[1]}
    in_assess = np.array([s.path in assess_paths for s in val_samples])
    # Decoded once per set, and only if some classifier's features are not cached yet.
    val_images = functools.cache(functools.partial(decode_samples, val_samples))
    val_arrays = features(weights, val_samples, ["validation"] * len(val_samples), cache, "val", val_images)
    val = make_part(weights, val_arrays)
    val.sources = np.where(in_assess, "assess", "select")
    ext_samples = discover(external).samples
    ext_images = functools.cache(functools.partial(decode_samples, ext_samples))
    ext_arrays = features(weights, ext_samples, [s.source for s in ext_samples], cache, "ext", ext_images)
    ext = make_part(weights, ext_arrays)
    val_others = [probabilities(o, val_samples, cache, "val", val_images) for o in others]
    ext_others = [probabilities(o, ext_samples, cache, "ext", ext_images) for o in others]
    val_scores, ext_scores = scores(val.probs, val_others), scores(ext.probs, ext_others)
    assess = val.take(in_assess)
    results: dict[str, Any] = {"served": both_sides(val, ext, val.served_uncertain, ext.served_uncertain)}
    agreement = {**votes(val, val.probs, val_others), **votes(ext, ext.probs, ext_others)}
    for name, score in val_scores.items():
        threshold = VOTE if name == "any disagrees" else limit_threshold(assess, score[in_assess])
        u = with_flag(val, score, threshold), with_flag(ext, ext_scores[name], threshold)
        results[f"served + {name}"] = {"threshold": threshold, **both_sides(val, ext, *u)}
    return {"flags": results, "votes": agreement}


def render_votes(agreement: dict[str, Any]) -> str:
    lines = [
        "| images | n | all agree | served errors | with a dissent | with 3+ dissenting "
        "| served accuracy | ensemble mean's accuracy |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for source, v in agreement.items():
        lines.append(
            f"| {source} | {v['n']} | {100 * v['all_agree']:.1f}% | {v['errors']} | "
            f"{v['errors_any_dissent']} | {v['errors_3_dissent']} | "
            f"{100 * v['served_accuracy']:.1f}% | {100 * v['ensemble_accuracy']:.1f}% |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = measurement_parser("python -m bench.disagreement", __doc__)
    parser.add_argument(
        "--others", type=Path, nargs="+", required=True, help="classifiers that vote beside it"
    )
    args = parser.parse_args(argv)
    weights = load_gated(args.weights)
    others = [load_weights(p) for p in args.others]
    results = measure(weights, others, args.data, args.split, args.external, args.cache)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(render(results["flags"]))
    print(render_votes(results["votes"]))


if __name__ == "__main__":
    main()
