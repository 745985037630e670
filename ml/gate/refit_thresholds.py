"""Rechoose only the "uncertain" thresholds of a gated weights file: ``python -m ml.gate.refit_thresholds``.

The scope classifier, the feature distance and the out-of-scope thresholds stay as they are; the
low-confidence floors (one per answered class) and the typicality threshold are chosen again by the
export's rule (:func:`ml.gate.fit.class_confidence`, :class:`ml.gate.fit.GateTargets`) on the validation
side's ``assess`` half, the images that chose neither the epoch nor the temperature. It costs one forward
pass over those images (about a minute on two CPU cores) instead of the export's 6,000.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import asdict, replace
from pathlib import Path

from ml.evaluation.metrics import softmax
from ml.gate.data import classifier_outputs, decode_samples, gate_samples
from ml.gate.fit import GateTargets, class_confidence
from ml.model import load_weights, save_weights
from ml.model.gate import Gate

logger = logging.getLogger(__name__)


def refit(source: Path, out: Path, data: Path, split: Path, version: str, targets: GateTargets) -> str:
    weights = load_weights(source)
    if weights.gate is None:
        raise SystemExit(f"{source} carries no gate to keep")
    _, val = gate_samples(data, split)
    images = decode_samples(val)
    logits, _ = classifier_outputs(weights.model, images.pixels, weights.metadata.preprocessing)
    floors = class_confidence(softmax(logits, weights.metadata.temperature), targets.low_confidence)
    old = weights.gate.config
    thresholds = replace(
        old.thresholds,
        min_typicality=targets.atypical,
        min_confidence=min(floors),
        min_class_confidence=floors,
    )
    fitted = {
        **old.fitted,
        "uncertain_refit": {
            "targets": {"low_confidence": targets.low_confidence, "atypical": targets.atypical},
            "validation_half": "assess",
            "validation_images": len(images.pixels),
            "before": asdict(old.thresholds),
        },
    }
    logger.info("uncertain thresholds: %s (were %s)", thresholds, old.thresholds)
    gate = Gate(
        replace(old, thresholds=thresholds, fitted=fitted),
        weights.gate.scope,
        weights.gate.distance,
        weights.gate.familiarity,
    )
    sha = save_weights(out, weights.model, replace(weights.metadata, version=version), gate, weights.int8)
    load_weights(out)
    print(f"{out}\tsha256 {sha}")
    return sha


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ml.gate.refit_thresholds", description=__doc__)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", type=Path, required=True)
    parser.add_argument("--low-confidence", type=float, default=GateTargets.low_confidence)
    parser.add_argument("--atypical", type=float, default=GateTargets.atypical)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    targets = GateTargets(low_confidence=args.low_confidence, atypical=args.atypical)
    refit(args.weights, args.out, args.data, args.split, args.version, targets)


if __name__ == "__main__":
    main()
