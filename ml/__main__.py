"""Command line: ``python -m ml train | evaluate | export`` (also ``cxr-train``, ``cxr-evaluate``, ...)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from ml.config import PRESETS

DEVICES = ("auto", "cpu", "cuda")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default only where there is one; preset-dependent options name each preset's value."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.required or action.default == []:
            return action.help
        return super()._get_help_string(action)


def _by_preset(field: str) -> str:
    return "default: " + ", ".join(f"{name} {getattr(cfg, field)}" for name, cfg in sorted(PRESETS.items()))


def _parser() -> argparse.ArgumentParser:
    fmt = _Formatter
    parser = argparse.ArgumentParser(prog="python -m ml", description=__doc__, formatter_class=fmt)
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser(
        "train", help="train a model and write weights, metrics and plots", formatter_class=fmt
    )
    train.add_argument(
        "--data", type=Path, required=True, help="dataset folder (shared copy or Kaggle download)"
    )
    train.add_argument("--out", type=Path, required=True, help="output folder")
    train.add_argument("--config", choices=sorted(PRESETS), default="paper", help="recipe preset")
    train.add_argument("--epochs", type=int, help=f"epochs ({_by_preset('epochs')})")
    train.add_argument("--batch-size", type=int, help=f"batch size per process ({_by_preset('batch_size')})")
    train.add_argument("--lr", type=float, help=f"peak learning rate ({_by_preset('lr')})")
    train.add_argument(
        "--limit", type=int, help="stratified subset of about N images, for smoke runs (0: all)"
    )
    train.add_argument(
        "--seed", type=int, help="seed for the split, sampling and initialisation (default: 0)"
    )
    train.add_argument("--device", choices=DEVICES, default="auto", help="where to train")
    train.add_argument("--resume", type=Path, help="a checkpoint.ckpt.safetensors to continue from")
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any TrainConfig field, e.g. --set label_smoothing=0.1",
    )

    ev = sub.add_parser("evaluate", help="evaluate a weights file on a dataset", formatter_class=fmt)
    ev.add_argument("--weights", type=Path, required=True, help="a .safetensors weights file")
    ev.add_argument(
        "--data", type=Path, required=True, help="dataset folder (shared copy or Kaggle download)"
    )
    ev.add_argument(
        "--out", type=Path, required=True, help="output folder for metrics.json, plots, report.md"
    )
    ev.add_argument("--limit", type=int, default=0, help="stratified subset of about N images (0: all)")
    ev.add_argument("--split", type=Path, help="a run's split.csv: evaluate only one side of it")
    ev.add_argument("--subset", choices=("val", "train"), default="val", help="side of --split to evaluate")
    ev.add_argument("--device", choices=DEVICES, default="auto", help="where to run")

    ex = sub.add_parser("export", help="validate and stamp a release weights file", formatter_class=fmt)
    ex.add_argument("--weights", type=Path, required=True, help="a run's model.safetensors or a checkpoint")
    ex.add_argument("--out", type=Path, required=True, help="the release file to write")
    ex.add_argument("--version", required=True, help="release version recorded in the metadata")
    ex.add_argument("--name", help="model name recorded in the metadata (default: keep)")
    ex.add_argument("--temperature", type=float, default=1.0, help="temperature, when exporting a checkpoint")
    return parser


def run(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    rank = os.environ.get("RANK", "0")
    logging.basicConfig(
        level=logging.INFO if rank == "0" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command == "train":
        from ml import train

        cfg = PRESETS[args.config].with_overrides(args.set)
        given = {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "limit": args.limit,
            "seed": args.seed,
        }
        cfg = cfg.replace(**{k: v for k, v in given.items() if v is not None})
        train.main(cfg, args.data, args.out, args.device, args.resume)
    elif args.command == "evaluate":
        from ml import evaluate

        evaluate.main(args.weights, args.data, args.out, args.device, args.limit, args.split, args.subset)
    else:
        from ml import export

        export.main(args.weights, args.out, args.version, args.name, args.temperature)
    return 0


def train_entry() -> int:
    return run(["train", *sys.argv[1:]])


def evaluate_entry() -> int:
    return run(["evaluate", *sys.argv[1:]])


def export_entry() -> int:
    return run(["export", *sys.argv[1:]])


if __name__ == "__main__":
    raise SystemExit(run())
