"""``python -m ml validate-site DIR [--labels CSV]`` (also ``cxr-validate-site``).

Runs a folder of a site's own films exactly as the service would answer them, one site sending them one at
a time, and writes a report of how far they are from the training data, what the service answers and
flags, and, with labels, how right it is: ``report.md`` with PNG plots, ``summary.json`` and ``images.csv``.
Bad input (a missing or empty folder, no readable image, a bad labels CSV) exits with status 2 and a
message, as argparse does.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path
from typing import Any, Final

from ml.decoding import SERVED_LIMITS
from ml.engine.names import AUTO, CHOICES

DEFAULT_WEIGHTS: Final = Path("weights/cxr-paper-cnn.safetensors")
"""The service's default ``CXR_WEIGHTS_PATH``."""
DEFAULT_OUT: Final = Path("site-validation")
REPORT_PACKAGES: Final = frozenset({"matplotlib", "tqdm"})
"""What the report needs beyond serving: the ``report`` extra."""
HELP: Final = "run a site's own films as the service would and report whether the model holds up on them"
DESCRIPTION: Final = (
    "Runs a folder of a site's own films exactly as the service answers them, as one site sending them "
    "one at a time in sorted order, and writes report.md with PNG plots, summary.json and images.csv: how "
    "far the films are from the training data, the answers and flags, and with labels how right they are. "
    "Research use only: this is no clinical validation."
)

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, metavar="DIR", help="folder of films, read recursively")
    parser.add_argument(
        "--labels",
        type=Path,
        metavar="CSV",
        help="CSV with 'file' (relative to DIR) and 'label' (a class name) columns; others are ignored",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"folder for the report (default: {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--weights",
        type=Path,
        default=DEFAULT_WEIGHTS,
        help=f"the weights file the service serves (default: {DEFAULT_WEIGHTS})",
    )
    parser.add_argument(
        "--engine",
        choices=CHOICES,
        default=AUTO,
        help="what runs the model on the CPU, as CXR_ENGINE (default: auto, as the service)",
    )
    parser.add_argument(
        "--glob",
        metavar="PATTERN",
        help="only files matching it: their name (e.g. 'sbu-*'), or with a '/' their path relative to DIR",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=16,
        help="films per forward pass (default: 16; answers do not change)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def register(sub: Any) -> None:
    """The subcommand in ``python -m ml``'s parser (``sub``: its subparsers), for its help; the command
    itself runs :func:`main`, without that parser's imports."""
    add_arguments(sub.add_parser("validate-site", help=HELP, description=DESCRIPTION))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml validate-site", description=DESCRIPTION)
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    command = shlex.join(["python", "-m", "ml", "validate-site", *(sys.argv[1:] if argv is None else argv)])
    from ml.engine import EngineError
    from ml.model.weights_file import WeightsError
    from ml.site.files import SiteInputError

    try:
        headline = validate(args, command)
    except (SiteInputError, WeightsError, EngineError) as exc:
        parser.error(str(exc))
    except ModuleNotFoundError as exc:
        if exc.name not in REPORT_PACKAGES:
            raise
        parser.error(f"the report needs {exc.name}, from the report extra: pip install 'cxr-service[report]'")
    print(headline)
    print(f"report: {args.out / 'report.md'}")
    return 0


def validate(args: argparse.Namespace, command: str) -> str:
    from ml.site.figures import summarize
    from ml.site.files import SiteInputError, find_files, read_labels
    from ml.site.report import write_report
    from ml.site.run import run_site
    from ml.site.served import ServedModel
    from ml.site.verdict import judge

    root: Path = args.dir
    files = find_files(root, args.glob)
    model = ServedModel.load(args.weights, args.engine, SERVED_LIMITS)
    labels, unmatched = read_labels(args.labels, model.classes, files) if args.labels else ({}, None)
    logger.info("%d files, %d labelled; engine %s", len(files), len(labels), model.engine_name)
    run = run_site(model, root, files, labels, args.batch_size, progress=not args.no_progress)
    if not run.films:
        skipped = ", ".join(f"{count} {reason}" for reason, count in run.skipped.most_common())
        raise SiteInputError(
            f"{root}: none of its {len(files)} files is an image the service reads ({skipped})"
        )
    summary = summarize(model, run, unmatched)
    verdict = judge(summary)
    title = root.resolve().name + (f" ({args.glob})" if args.glob else "")
    write_report(args.out, title, command, model, run, summary, verdict)
    return verdict.headline


def entry() -> int:
    return main()
