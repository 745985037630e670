"""Retrain only the scope classifier of a gated weights file: ``python -m ml.gate.refit_scope``.

``python -m ml export --data`` fits the whole gate, and most of its time goes into the classifier's
features of 6,000 images. When the classifier is unchanged those statistics are too, so this keeps the
input file's feature distance and thresholds, trains a new scope classifier exactly as the export does
(:func:`ml.gate.data.build_scope_set`, with ``../shared`` where present) and sets ``min_chest_xray`` by the
export's rule on the validation split. For trying scope training; a release is exported with ``--data``.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from ml.gate.data import Images, build_scope_set, decode_samples, gate_samples, load_split, scope_batch
from ml.gate.fit import GateTargets
from ml.gate.shared import load_shared, shared_root
from ml.gate.train_scope import ScopeTrainConfig, scope_probabilities, train_scope
from ml.model import load_weights, save_weights
from ml.model.gate import Gate

logger = logging.getLogger(__name__)


def training_side(data: Path, split: Path, limit: int | None, seed: int) -> tuple[Images, Images]:
    """The split's images, decoded; only a random ``limit`` of the training side where given."""
    if limit is None:
        return load_split(data, split)
    train, val = gate_samples(data, split)
    chosen = np.random.default_rng(seed).permutation(len(train))[:limit]
    return decode_samples([train[i] for i in chosen]), decode_samples(val)


def refit(
    source: Path,
    out: Path,
    data: Path,
    split: Path,
    cfg: ScopeTrainConfig,
    version: str,
    train_images: int | None = None,
) -> str:
    weights = load_weights(source)
    if weights.gate is None:
        raise SystemExit(f"{source} carries no gate to keep")
    train, val = training_side(data, split, train_images, cfg.seed)
    shared = load_shared(shared_root(data), held_out=False)
    scope_set = build_scope_set(train.pixels, cfg.seed, cfg.per_maker, held_out=False, shared=shared)
    scope = train_scope(scope_set, cfg)
    chest = scope_probabilities(scope, scope_batch(val.pixels))[:, 0].numpy()
    targets = GateTargets()
    min_chest = float(min(targets.scope_ceiling, np.quantile(chest, targets.scope_quantile)))
    old = weights.gate.config
    fitted = {
        **old.fitted,
        "scope": {
            "trained": cfg.to_dict(),
            "refit_only": True,
            "training_images": len(train.pixels),
            "ct_volumes": [v.name for v in shared.volumes],
            "real_negatives": {k: len(v) for k, v in shared.negatives.items()},
        },
    }
    config = replace(old, thresholds=replace(old.thresholds, min_chest_xray=min_chest), fitted=fitted)
    logger.info("min_chest_xray %.4f (was %.4f)", min_chest, old.thresholds.min_chest_xray)
    metadata = replace(weights.metadata, version=version)
    gate = Gate(config, scope, weights.gate.distance, weights.gate.familiarity)
    sha = save_weights(out, weights.model, metadata, gate, weights.int8)
    load_weights(out)
    print(f"{out}\tsha256 {sha}")
    return sha


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ml.gate.refit_scope", description=__doc__)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", type=Path, required=True)
    parser.add_argument("--scope-epochs", type=int, default=ScopeTrainConfig.epochs)
    parser.add_argument("--scope-per-kind", type=int, default=ScopeTrainConfig.per_maker)
    parser.add_argument("--train-images", type=int, help="decode only this many training images")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = ScopeTrainConfig(epochs=args.scope_epochs, per_maker=args.scope_per_kind)
    refit(args.weights, args.out, args.data, args.split, cfg, args.version, args.train_images)


if __name__ == "__main__":
    main()
