"""The input assessment on real material it was not fitted on:
``python -m ml.studies.scope_real --weights FILE``.

* renderings of the held-out CT volumes (:data:`ml.gate.shared.HELD_OUT_VOLUMES`): the share of lateral and
  oblique ones put out of scope, and of frontal ones kept in scope;
* the real scope negatives by kind: the held-out part, and all of them (the rest was trained on by a
  scope classifier fitted with ``../shared`` present; the shipped one saw none);
* ``external-dev`` per source (a test set: nothing is fitted here): out of scope, uncertain, unflagged,
  accuracy of the unflagged answers and the share of wrong answers flagged.

It prints a markdown table and writes ``--out`` (JSON). It needs ``ct-volumes/`` and ``scope-negatives/``
beside ``--data`` (or in ``$CXR_SHARED_DATA``).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ml.data import discover
from ml.gate.data import decode_samples, scope_batch
from ml.gate.drr import render
from ml.gate.evaluate import answer_quality, assess_images
from ml.gate.shared import load_shared, shared_root
from ml.gate.train_scope import scope_probabilities
from ml.model import LoadedWeights, load_weights

logger = logging.getLogger(__name__)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


SCOPE_REASONS = frozenset({"not_frontal_chest_xray", "inverted_polarity", "wrong_orientation"})


def scope_only_share(weights: LoadedWeights, images: list[np.ndarray]) -> float:
    """The share the scope classifier calls not a frontal X-ray, without running the classifier."""
    assert weights.gate is not None
    probs = scope_probabilities(weights.gate.scope, scope_batch(images))[:, 0].numpy()
    return float((probs < weights.gate.config.thresholds.min_chest_xray).mean())


def out_of_scope_share(
    weights: LoadedWeights, images: list[np.ndarray], scope_only: bool = False
) -> tuple[float | None, float]:
    """The share out of scope, and the share the scope classifier alone calls not a frontal X-ray;
    ``scope_only`` skips the classifier (and the first share, None)."""
    assert weights.gate is not None
    if scope_only:
        return None, scope_only_share(weights, images)
    meta = weights.metadata
    run = assess_images(weights.model, weights.gate, meta.preprocessing, meta.temperature, images)
    by_scope = [any(r.value in SCOPE_REASONS for r in a.reasons) for a in run.assessments]
    return float(run.out_of_scope.mean()), float(np.mean(by_scope))


def held_out_material(
    weights: LoadedWeights, root: Path, renders: int, seed: int, scope_only: bool = False
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    held, train = load_shared(root, held_out=True), load_shared(root, held_out=False)
    out: dict[str, Any] = {"volumes": [v.name for v in held.volumes], "renderings": {}, "negatives": {}}
    for view in ("frontal", "lateral", "oblique"):
        images = [render(held.volumes[i % len(held.volumes)], view, rng) for i in range(renders)]
        share, by_scope = out_of_scope_share(weights, images, scope_only)
        out["renderings"][view] = {"n": renders, "out_of_scope": share, "scope_classifier": by_scope}
    for kind in sorted(held.negatives):
        both = held.negatives[kind] + train.negatives.get(kind, [])
        out["negatives"][kind] = {
            "held_out_n": len(held.negatives[kind]),
            "held_out": out_of_scope_share(weights, held.negatives[kind], scope_only)[int(scope_only)],
            "all_n": len(both),
            "all": out_of_scope_share(weights, both, scope_only)[int(scope_only)],
        }
    return out


def external(weights: LoadedWeights, folder: Path) -> dict[str, dict[str, Any]]:
    assert weights.gate is not None
    samples = discover(folder).samples
    images = decode_samples(samples)
    meta = weights.metadata
    run = assess_images(weights.model, weights.gate, meta.preprocessing, meta.temperature, images.pixels)
    sources = np.array([s.source for s in samples])
    out = {}
    for source in sorted(set(sources)):
        mask = sources == source
        part = run.subset(mask)
        out[str(source)] = answer_quality(part, images.labels[mask])
    return out


def external_scope_only(weights: LoadedWeights, folder: Path) -> dict[str, dict[str, Any]]:
    """Per source, the share of external-dev films the scope classifier alone puts out of scope."""
    samples = discover(folder).samples
    images = decode_samples(samples)
    sources = np.array([s.source for s in samples])
    out = {}
    for source in sorted(set(sources)):
        part = [p for p, s in zip(images.pixels, sources, strict=True) if s == source]
        out[str(source)] = {"n": len(part), "scope_out_of_scope": scope_only_share(weights, part)}
    return out


def render_markdown(results: dict[str, Any]) -> str:
    lines = [f"Weights: `{results['weights']}`", ""]
    if results.get("scope_only"):
        lines += ["Scope classifier alone: 'out of scope' below is its share below `min_chest_xray`.", ""]
    held = results.get("held_out")
    if held:
        lines += [f"Held-out CT volumes: {', '.join(held['volumes'])}", ""]
        lines += [
            "| held-out rendering | n | out of scope | of which the scope classifier's |",
            "| --- | --- | --- | --- |",
        ]
        for view, r in held["renderings"].items():
            lines.append(f"| {view} | {r['n']} | {_pct(r['out_of_scope'])} | {_pct(r['scope_classifier'])} |")
        lines += ["", "| real negatives | held out: n | out of scope | all: n | out of scope |"]
        lines.append("| --- | --- | --- | --- | --- |")
        for kind, r in held["negatives"].items():
            lines.append(
                f"| {kind} | {r['held_out_n']} | {_pct(r['held_out'])} | {r['all_n']} | {_pct(r['all'])} |"
            )
    ext_scope = results.get("external_scope_only")
    if ext_scope:
        lines += [
            "",
            "| external-dev source | n | out of scope by the scope classifier |",
            "| --- | --- | --- |",
        ]
        lines += [f"| {k} | {v['n']} | {_pct(v['scope_out_of_scope'])} |" for k, v in ext_scope.items()]
    ext = results.get("external")
    if ext:
        lines += [
            "",
            "| external-dev source | n | accuracy | out of scope | uncertain | unflagged "
            "| accuracy unflagged | errors flagged |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for source, q in ext.items():
            lines.append(
                f"| {source} | {q['n']} | {_pct(q['accuracy'])} | {_pct(q['out_of_scope'])} "
                f"| {_pct(q['uncertain'])} | {_pct(q['coverage'])} | {_pct(q['accuracy_unflagged'])} "
                f"| {_pct(q['errors_flagged'])} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ml.studies.scope_real", description=__doc__)
    parser.add_argument("--weights", type=Path, default=Path("weights/cxr-paper-cnn.safetensors"))
    parser.add_argument(
        "--data", type=Path, default=Path("../shared/data/covid-radiography"), help="ct-volumes/ is beside it"
    )
    parser.add_argument("--renders", type=int, default=200, help="renderings of each view")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--external", type=Path, help="the external-dev folder (default: beside ct-volumes)")
    parser.add_argument("--skip-external", action="store_true", help="only the held-out material")
    parser.add_argument(
        "--scope-only", action="store_true", help="the scope classifier alone, without the classifier"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    weights = load_weights(args.weights)
    if weights.gate is None:
        raise SystemExit(f"{args.weights} carries no gate")
    root = shared_root(args.data)
    if root is None:
        raise SystemExit("no ../shared/data (or $CXR_SHARED_DATA): nothing to measure")
    results: dict[str, Any] = {"weights": str(args.weights)}
    results["held_out"] = held_out_material(weights, root, args.renders, args.seed, args.scope_only)
    results["scope_only"] = args.scope_only
    folder = args.external or root / "external-dev"
    if folder.is_dir() and not args.skip_external:
        if args.scope_only:
            results["external_scope_only"] = external_scope_only(weights, folder)
        else:
            results["external"] = external(weights, folder)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(render_markdown(results))


if __name__ == "__main__":
    main()
