"""``python -m bench``: the model's limit, then the real service end to end, and a report.

Quick mode (default) takes about 1-2 minutes on a 2-core CPU; ``--full`` runs longer for steadier figures.
Writes ``bench.json``, ``bench.md`` and ``bench.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench import model_limit, report
from bench.ceiling import ceiling_table, per_core, run_ceiling, scaling_text
from bench.e2e import Row, Scenario, run_scenario
from bench.inputs import DEFAULT_DATA_DIR, load_pngs
from bench.limit import bracket, measure_limit
from bench.loadgen import make_bodies
from bench.quiet import QuietPolicy
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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter
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
    parser.add_argument("--ceiling-concurrency", type=int, default=8, help="null-model ceiling's clients")
    parser.add_argument(
        "--peer-concurrency",
        type=int,
        nargs="*",
        default=[1, 4],
        help="the paper-style peer (bench.peer): concurrencies to drive it at (none: skip it)",
    )
    return parser.parse_args(argv)


def machine(device: str) -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "device": device,
        "commit": commit,
        "load_average": list(os.getloadavg()),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("--device cuda: torch sees no CUDA device here", file=sys.stderr)
        return 2
    mode = FULL if args.full else QUICK
    max_requests = args.max_requests or mode.max_requests
    max_seconds = args.max_seconds or mode.max_seconds
    args.out.mkdir(parents=True, exist_ok=True)
    policy = QuietPolicy(max_foreign_percent=args.max_foreign, retries=args.retries)
    started = time.monotonic()
    info = machine(args.device)
    print(f"machine: {info['cpu']}, {info['cores']} cores, load average {info['load_average']}", flush=True)

    batch_sizes = sorted(set(args.limit_batch_sizes or [1, args.max_batch_size]))
    limit_before = measure_limit(args.weights, args.device, batch_sizes, mode.limit_seconds, policy)
    model_limit.print_table(limit_before)

    pngs, source = load_pngs(mode.images, None if args.synthetic else args.data)
    bodies = make_bodies(pngs, multipart=not args.raw)
    print(f"inputs: {source}, sent as {'raw image/png' if args.raw else 'multipart'}", flush=True)
    base = {
        "device": args.device,
        "weights_path": str(args.weights.resolve()),
        "workers": str(args.workers),
        "engine": args.engine,
    }
    batched = {**base, "max_batch_size": str(args.max_batch_size), "max_wait_ms": str(args.max_wait_ms)}
    scenarios = [Scenario("batching", batched, args.max_batch_size)]
    if not args.no_unbatched:
        scenarios.append(Scenario("no-batching", {**base, "max_batch_size": "1"}, 1))
    rows: list[Row] = []
    for scenario in scenarios:
        rows += run_scenario(
            scenario,
            bodies,
            args.concurrency,
            max_requests=max_requests,
            max_seconds=max_seconds,
            processes=args.processes,
            policy=policy,
        )
    if args.peer_concurrency:
        peer = Scenario("paper-style peer", base, 1, module="bench.peer", metrics=False)
        rows += run_scenario(
            peer,
            bodies,
            args.peer_concurrency,
            max_requests=max_requests,
            max_seconds=max_seconds,
            processes=args.processes,
            policy=policy,
        )
    ceiling: list[Row] = []
    if args.ceiling_processes:
        print("null-model ceiling (the request path alone):", flush=True)
        ceiling = run_ceiling(
            args.weights,
            bodies,
            args.ceiling_processes,
            args.ceiling_concurrency,
            max_requests=max_requests,
            max_seconds=max_seconds,
            loadgen_processes=args.processes,
            policy=policy,
        )
    print("model limit again, after the end-to-end runs:", flush=True)
    limit_after = measure_limit(args.weights, args.device, batch_sizes, mode.limit_seconds, policy)
    model_limit.print_table(limit_after)
    limit = bracket(limit_before, limit_after)
    report.attach_limits(rows, limit["rows"])
    goals = report.targets(rows, limit["rows"], "batching")
    goals["at_concurrency"] = report.concurrency_targets(rows, "batching", "paper-style peer")
    info["load_average_end"] = list(os.getloadavg())
    info["torch"] = limit["torch"]
    info["accelerator"] = limit["device"]
    table = report.table(rows)
    goals_text = report.targets_text(goals)
    if ceiling:
        goals_text += "\n\n" + ceiling_table(ceiling) + "\n\n" + scaling_text(ceiling)
    print(table, goals_text, sep="\n\n")
    payload = {
        "machine": info,
        "mode": "full" if args.full else "quick",
        "inputs": source,
        "per_run": {"max_requests": max_requests, "max_seconds": max_seconds, "processes": args.processes},
        "service": {"workers": args.workers, "engine": args.engine},
        "model_limit": limit,
        "rows": rows,
        "null_model_ceiling": [{**row.to_dict(), "per_core": per_core(row)} for row in ceiling],
        "targets": goals,
        "wall_s": time.monotonic() - started,
    }
    report.write_json(args.out / "bench.json", payload)
    (args.out / "bench.md").write_text(table + "\n\n" + goals_text + "\n")
    title = f"{limit['device']} ({info['cpu']}), torch {limit['torch']}, {payload['mode']} mode"
    report.plot(args.out / "bench.png", rows, title)
    print(f"wrote {args.out}/bench.json, bench.md, bench.png in {payload['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
