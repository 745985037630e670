"""Two services side by side, driven in turn, for a comparison a busy machine cannot spoil as easily.

``python -m bench.paired --b-setting torch_threads=1`` (or ``--a-tree DIR``: another checkout, such as an
older commit's ``git worktree``, run as A). Both services run at once (an idle one costs nothing) with the
benchmark's API key and production settings; each is driven for ``--seconds`` in the order A B, B A, A B
... for ``--rounds`` rounds, with Grad-CAM at ``--concurrency``, on the benchmark's X-rays. Each drive
prints its requests/s, the service's CPU per request (model side and request path) and the foreign load;
the summary gives each side's medians and the median of the rounds' ratios B / A: a slowdown of the
machine in one round hits both sides of it alike.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench.cpu_split import CpuSplit, name_threads, snapshot
from bench.e2e import start_service
from bench.inputs import DEFAULT_DATA_DIR, load_pngs
from bench.loadgen import LoadSpec, make_bodies, run_load
from bench.resources import cpu_snapshot, foreign_percent
from harness.live import REPO, LiveServer
from harness.load import Body


@dataclass(frozen=True)
class Drive:
    throughput: float
    errors: int
    cpu: CpuSplit
    foreign_percent: float


def drive(service: LiveServer, bodies: Sequence[Body], concurrency: int, seconds: float) -> Drive:
    names = name_threads(service.pid) or {}
    before, machine_before = snapshot(names), cpu_snapshot((service.pid, os.getpid()))
    spec = LoadSpec(concurrency, True, 10**9, seconds, headers=service.headers)
    result = asyncio.run(run_load(service.url, bodies, spec, warmup=False))
    after, machine_after = snapshot(names), cpu_snapshot((service.pid, os.getpid()))
    return Drive(
        result.throughput,
        result.failed,
        CpuSplit.of(before, after, names, result.ok),
        foreign_percent(machine_before, machine_after),
    )


def settings_of(pairs: Sequence[str], weights: Path) -> dict[str, str]:
    """``name=value`` pairs (the settings' field names, as ``CXR_NAME`` without its prefix)."""
    settings = {"device": "cpu", "weights_path": str(weights.resolve())}
    for pair in pairs:
        name, _, value = pair.partition("=")
        settings[name.strip().lower()] = value
    return settings


def main(argv: list[str] | None = None) -> dict[str, list[Drive]]:
    parser = argparse.ArgumentParser(prog="python -m bench.paired", description=__doc__)
    parser.add_argument("--a-tree", type=Path, help="checkout to run A from (default: this one)")
    parser.add_argument("--b-tree", type=Path, help="checkout to run B from (default: this one)")
    parser.add_argument("--a-setting", nargs="*", default=[], help="A's settings, name=value")
    parser.add_argument("--b-setting", nargs="*", default=[], help="B's settings, name=value")
    parser.add_argument("--weights", type=Path, default=REPO / "weights" / "cxr-paper-cnn.safetensors")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="X-rays to send, when present")
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=4.0, help="per drive")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args(argv)
    pngs, source = load_pngs(args.images, args.data)
    bodies = make_bodies(pngs)
    print(f"inputs: {source}")
    sides = {
        "A": (args.a_tree, settings_of(args.a_setting, args.weights)),
        "B": (args.b_tree, settings_of(args.b_setting, args.weights)),
    }
    drives: dict[str, list[Drive]] = {"A": [], "B": []}
    with ExitStack() as stack:
        services = {
            side: stack.enter_context(start_service(settings, tree=tree))
            for side, (tree, settings) in sides.items()
        }
        for service in services.values():  # warm: threads, buffers, connections' first use
            spec = LoadSpec(args.concurrency, True, 40, 10, headers=service.headers)
            asyncio.run(run_load(service.url, bodies, spec, warmup=False))
        for round_ in range(args.rounds):
            for side in ("A", "B") if round_ % 2 == 0 else ("B", "A"):
                done = drive(services[side], bodies, args.concurrency, args.seconds)
                drives[side].append(done)
                print(
                    f"round {round_} {side}: {done.throughput:6.1f} req/s, errors {done.errors}, CPU per "
                    f"request {done.cpu.model_ms:5.2f} ms model + {done.cpu.request_path_ms:5.2f} ms "
                    f"request path, foreign CPU {done.foreign_percent:3.0f}%",
                    flush=True,
                )
    for side, (tree, settings) in sides.items():
        rows = drives[side]
        print(
            f"{side} ({tree or 'this checkout'}, {settings}): median "
            f"{statistics.median(d.throughput for d in rows):.1f} req/s, "
            f"{statistics.median(d.cpu.model_ms for d in rows):.2f} + "
            f"{statistics.median(d.cpu.request_path_ms for d in rows):.2f} ms CPU per request"
        )
    ratios = [b.throughput / a.throughput for a, b in zip(drives["A"], drives["B"], strict=True)]
    print(f"B / A: median {statistics.median(ratios):.3f} (rounds: {min(ratios):.3f} to {max(ratios):.3f})")
    return drives


if __name__ == "__main__":
    main()
