"""``python -m bench``'s command line: its options and its two modes, quick and full."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from bench.inputs import DEFAULT_DATA_DIR
from harness.live import REPO
from ml.engine import CHOICES
from service.settings import Settings

DEFAULT_WEIGHTS = REPO / "weights" / "cxr-paper-cnn.safetensors"
DEFAULT_MAX_BATCH: int = Settings.model_fields["max_batch_size"].default
DEFAULT_MAX_WAIT_MS: float = Settings.model_fields["max_wait_ms"].default


@dataclass(frozen=True)
class Mode:
    limit_seconds: float
    max_requests: int
    max_seconds: float
    images: int


QUICK = Mode(limit_seconds=1.5, max_requests=150, max_seconds=3.0, images=24)
FULL = Mode(limit_seconds=5.0, max_requests=2000, max_seconds=15.0, images=200)


def parse_args(argv: list[str] | None, description: str | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--full", action="store_true", help="longer runs, more images")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="model limit and service")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="safetensors weights")
    parser.add_argument("--out", type=Path, default=REPO / "artifacts" / "bench", help="report folder")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="X-rays to send, when present")
    parser.add_argument("--synthetic", action="store_true", help="send generated PNGs even if --data exists")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument(
        "--max-batch-size", type=int, default=DEFAULT_MAX_BATCH, help="the service's, when batching is on"
    )
    parser.add_argument(
        "--max-wait-ms", type=float, default=DEFAULT_MAX_WAIT_MS, help="the service's, when batching is on"
    )
    parser.add_argument(
        "--limit-batch-sizes", type=int, nargs="+", help="model limit batches; unset: 1 and max batch"
    )
    parser.add_argument("--raw", action="store_true", help="send raw image/png bodies, not multipart")
    parser.add_argument("--processes", type=int, default=1, help="load-generator processes (GPU: 4+)")
    parser.add_argument("--max-requests", type=int, help="per run; unset: the mode's")
    parser.add_argument("--max-seconds", type=float, help="per run; unset: the mode's")
    parser.add_argument(
        "--max-foreign",
        type=float,
        default=15.0,
        help="rerun a measurement when other processes used more than this percent of a core meanwhile",
    )
    parser.add_argument("--retries", type=int, default=3, help="reruns of a disturbed measurement")
    parser.add_argument("--no-unbatched", action="store_true", help="skip the max-batch-size=1 service")
    parser.add_argument("--workers", type=int, default=1, help="the service's processes (CXR_WORKERS)")
    parser.add_argument("--engine", choices=CHOICES, default="auto", help="the service's CXR_ENGINE")
    parser.add_argument(
        "--ceiling-processes",
        type=int,
        nargs="*",
        default=[1, 2],
        help="null-model ceiling: service processes to try (none: skip the ceiling)",
    )
    parser.add_argument(
        "--no-runner-limit",
        action="store_true",
        help="skip the service's own model side's limit (bench.runner_limit)",
    )
    parser.add_argument("--ceiling-concurrency", type=int, default=8, help="null-model ceiling's clients")
    parser.add_argument(
        "--peer-concurrency",
        type=int,
        nargs="*",
        default=[1, 4],
        help="the paper-style peer (bench.peer): concurrencies to drive it at (none: skip it)",
    )
    return parser.parse_args(argv)
