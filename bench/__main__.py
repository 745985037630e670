"""``python -m bench``: the model's limit, then the real service end to end, and a report.

Quick mode (default) takes about 1-2 minutes on a 2-core CPU; ``--full`` runs longer for steadier figures.
Writes ``bench.json``, ``bench.md`` and ``bench.png`` to ``--out``.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from bench import model_limit, report, runner_limit
from bench.ceiling import ceiling_table, per_core, run_ceiling, scaling_text
from bench.e2e import Row, Scenario, run_scenario
from bench.inputs import load_pngs
from bench.limit import bracket, measure_limit
from bench.loadgen import make_bodies
from bench.options import FULL, QUICK, parse_args
from bench.quiet import QuietPolicy
from harness.live import REPO
from service.settings import Settings


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
    args = parse_args(argv, __doc__)
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
    runner = None
    if not args.no_runner_limit:
        # One process's runner, as the service builds it (its settings, its engine), on these images.
        runner_settings = Settings(
            weights_path=args.weights,
            device=args.device,
            engine=args.engine,
            max_batch_size=args.max_batch_size,
        )
        runner = runner_limit.build(runner_settings, bodies)
    runner_sizes = list(range(1, args.max_batch_size + 1))
    runner_before = None
    if runner is not None:
        runner_before = runner_limit.measure_runner(*runner, runner_sizes, mode.limit_seconds, policy)
        runner_limit.print_table(runner_before)
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
    runner_bracket = None
    if runner is not None and runner_before is not None:
        runner_after = runner_limit.measure_runner(*runner, runner_sizes, mode.limit_seconds, policy)
        runner_limit.print_table(runner_after)
        runner_bracket = runner_limit.bracket(runner_before, runner_after)
        report.attach_runner_limit(rows, runner_bracket)
    goals = report.targets(rows, limit["rows"], "batching")
    goals["at_concurrency"] = report.concurrency_targets(rows, "batching", "paper-style peer")
    info["load_average_end"] = list(os.getloadavg())
    info["torch"] = limit["torch"]
    info["accelerator"] = limit["device"]
    table = report.table(rows)
    goals_text = report.targets_text(goals)
    if runner_bracket is not None:
        goals_text = runner_limit.bracket_text(runner_bracket) + "\n\n" + goals_text
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
        "runner_limit": runner_bracket,
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
