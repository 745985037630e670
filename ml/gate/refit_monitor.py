"""Fit only the source-shift monitor of a gated weights file: ``python -m ml.gate.refit_monitor``.

The classifier, the scope classifier, the feature distance and every threshold of the input assessment stay
as they are; the monitor's reference answers and thresholds are fitted on the validation side's ``select``
half (:mod:`ml.gate.monitor`). It costs one forward pass over those images (under a minute on two CPU
cores). ``python -m ml export --data`` fits the same monitor with the rest of the gate.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path

from ml.gate.monitor import MonitorTargets, with_monitor
from ml.model import load_weights, save_weights

logger = logging.getLogger(__name__)


def refit(source: Path, out: Path, data: Path, split: Path, version: str, targets: MonitorTargets) -> str:
    weights = load_weights(source)
    if weights.gate is None:
        raise SystemExit(f"{source} carries no input assessment to add a monitor to")
    gate = with_monitor(weights, data, split, targets)
    sha = save_weights(out, weights.model, replace(weights.metadata, version=version), gate, weights.int8)
    load_weights(out)
    print(f"{out}\tsha256 {sha}")
    return sha


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ml.gate.refit_monitor", description=__doc__)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", type=Path, required=True)
    parser.add_argument("--window", type=int, default=MonitorTargets.window)
    parser.add_argument("--alarm-quantile", type=float, default=MonitorTargets.alarm_quantile)
    parser.add_argument("--clear-quantile", type=float, default=MonitorTargets.clear_quantile)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    targets = MonitorTargets(
        window=args.window, alarm_quantile=args.alarm_quantile, clear_quantile=args.clear_quantile
    )
    refit(args.weights, args.out, args.data, args.split, args.version, targets)


if __name__ == "__main__":
    main()
