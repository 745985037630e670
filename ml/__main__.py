"""Command line: ``python -m ml train | evaluate | robustness | export | validate-site`` (also
``cxr-train``, ...)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from ml.site import cli as site_cli
from ml.training.config import PRESETS

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
    from ml.data import SUBSETS  # loads torch, which validate-site does without

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
        "--monitor",
        type=Path,
        help="a test set (e.g. ../shared/data/external-dev) reported per source after every epoch; "
        "never trained on, never used to choose the epoch",
    )
    train.add_argument(
        "--cache", type=Path, help="folder keeping the decoded images, so the next run skips decoding"
    )
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
    ev.add_argument(
        "--subset",
        choices=SUBSETS,
        default="val",
        help="side of --split to evaluate (select, assess: the halves of val)",
    )
    ev.add_argument("--device", choices=DEVICES, default="auto", help="where to run")
    ev.add_argument(
        "--gate-shift-images",
        type=int,
        default=300,
        help="validation images run under each robustness shift to judge the input assessment (0: skip)",
    )
    ev.add_argument(
        "--gate-negatives", type=int, default=200, help="held-out negatives of each kind for the assessment"
    )

    rb = sub.add_parser(
        "robustness",
        help="accuracy, recall and ECE under simulated acquisition shifts (see docs/robustness.md)",
        formatter_class=fmt,
    )
    rb.add_argument(
        "--weights", type=Path, action="append", required=True, help="a .safetensors file; repeat to compare"
    )
    rb.add_argument(
        "--data", type=Path, required=True, help="dataset folder (shared copy or Kaggle download)"
    )
    rb.add_argument(
        "--out", type=Path, required=True, help="folder for metrics.json, report.md, robustness.png"
    )
    rb.add_argument("--split", type=Path, help="a run's split.csv: use only one side of it")
    rb.add_argument(
        "--subset",
        choices=SUBSETS,
        default="val",
        help="side of --split to use (select, assess: the halves of val)",
    )
    rb.add_argument(
        "--limit",
        type=int,
        default=300,
        help="stratified subset of about N images (0: all); the default keeps a CPU run under an hour",
    )
    rb.add_argument("--shifts", help="comma-separated names from ml/robustness/shifts.py (default: all 18)")
    rb.add_argument("--seed", type=int, default=0, help="seed for the subset and the shifts' random draws")
    rb.add_argument("--batch-size", type=int, default=64, help="images per forward pass")
    rb.add_argument("--device", choices=DEVICES, default="auto", help="where to run")

    ex = sub.add_parser("export", help="validate and stamp a release weights file", formatter_class=fmt)
    ex.add_argument("--weights", type=Path, required=True, help="a run's model.safetensors or a checkpoint")
    ex.add_argument("--out", type=Path, required=True, help="the release file to write")
    ex.add_argument("--version", required=True, help="release version recorded in the metadata")
    ex.add_argument("--name", help="model name recorded in the metadata (default: keep)")
    ex.add_argument("--temperature", type=float, default=1.0, help="temperature, when exporting a checkpoint")
    ex.add_argument("--data", type=Path, help="dataset folder: fit the input assessment (gate) on it")
    ex.add_argument(
        "--split", type=Path, help="the run's split.csv, so the gate is fitted on its training side"
    )
    ex.add_argument(
        "--int8",
        type=Path,
        metavar="DATA",
        help="dataset folder: calibrate int8 on --split's validation side",
    )
    ex.add_argument("--scope-from", type=Path, help="reuse this weights file's scope classifier")
    ex.add_argument("--scope-epochs", type=int, default=4, help="epochs of scope-classifier training")
    ex.add_argument(
        "--scope-per-kind", type=int, default=1500, help="scope-training examples of each negative kind"
    )
    site_cli.register(sub)
    return parser


def run(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["validate-site"]:
        return site_cli.main(argv[1:])
    args = _parser().parse_args(argv)
    rank = os.environ.get("RANK", "0")
    logging.basicConfig(
        level=logging.INFO if rank == "0" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from ml.device import DeviceUnavailableError  # loads torch: not before --help has been answered

    try:
        _dispatch(args)
    except DeviceUnavailableError as exc:
        raise SystemExit(str(exc)) from None
    return 0


def _dispatch(args: argparse.Namespace) -> None:
    if args.command == "train":
        from ml.training import train

        cfg = PRESETS[args.config].with_overrides(args.set)
        given = {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "limit": args.limit,
            "seed": args.seed,
        }
        cfg = cfg.replace(**{k: v for k, v in given.items() if v is not None})
        train.main(cfg, args.data, args.out, args.device, args.resume, args.monitor, args.cache)
    elif args.command == "evaluate":
        from ml.evaluation import evaluate

        evaluate.main(
            args.weights,
            args.data,
            args.out,
            args.device,
            args.limit,
            args.split,
            args.subset,
            gate_shift_images=args.gate_shift_images,
            gate_negatives=args.gate_negatives,
        )
    elif args.command == "robustness":
        from ml.robustness import suite as robustness

        shifts = [name.strip() for name in (args.shifts or "").split(",") if name.strip()]
        robustness.main(
            args.weights,
            args.data,
            args.out,
            args.split,
            args.subset,
            args.limit,
            shifts,
            args.seed,
            args.device,
            args.batch_size,
        )
    else:
        from ml.release import export

        source = export.GateSource(
            args.data, args.split, args.scope_from, args.scope_epochs, args.scope_per_kind
        )
        if args.int8 is not None and args.split is None:
            raise SystemExit("--int8 needs --split: int8 is calibrated on the validation side")
        int8 = (args.int8, args.split) if args.int8 is not None else None
        export.main(args.weights, args.out, args.version, args.name, args.temperature, source, int8)


def train_entry() -> int:
    return run(["train", *sys.argv[1:]])


def evaluate_entry() -> int:
    return run(["evaluate", *sys.argv[1:]])


def export_entry() -> int:
    return run(["export", *sys.argv[1:]])


if __name__ == "__main__":
    raise SystemExit(run())
