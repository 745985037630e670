"""The soak: ``python -m tests.reliability.long.soak --seconds 600 [--factor 2.0] [--window 10]``.

Starts ``python -m service`` on 127.0.0.1 (API keys on, random weights), measures its capacity with a
closed loop of clients (which also warms it up), then offers ``--factor`` x that capacity, open loop,
for ``--seconds``, in windows of ``--window`` seconds. Prints one line per window and a JSON summary.

Passes (exit 0) when: every request got an answer, every answer was 200 or 503 (with Retry-After), the
queue depth never exceeded its bound, the p99 latency of accepted requests stayed under the bound, and
the server's RSS at the end is at most ``--rss-growth`` (default 10%) above the RSS after the warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from harness.live import LiveServer
from harness.stats import percentile
from tests.reliability.config import AUTH
from tests.reliability.load import QUEUE_FULL, LoadReport, measure_capacity, overload

from .common import live_server

MAX_REQUESTS_PER_WINDOW = 20_000


async def soak(
    server: LiveServer, *, seconds: float, factor: float, window_s: float, queue_size: int, batch: int
) -> dict[str, Any]:
    warmup = await measure_capacity(server.port, AUTH, seconds=5.0, concurrency=2 * batch)
    capacity = max(warmup.throughput, 1.0)
    rss_baseline = server.rss_bytes()
    print(
        f"capacity {capacity:.1f}/s (closed loop of {2 * batch}); offering {factor * capacity:.1f}/s "
        f"for {seconds:.0f} s; RSS after warm-up {rss_baseline / 2**20:.1f} MB",
        flush=True,
    )
    statuses: Counter[int | None] = Counter()
    accepted_latencies: list[float] = []
    missing_retry_after = 0
    max_depth = 0
    rss_peak = rss_baseline
    windows = []
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        length = min(window_s, seconds - elapsed)
        report: LoadReport = await overload(
            server.port,
            AUTH,
            rate_per_s=factor * capacity,
            seconds=length,
            rss=server.rss_bytes,
            max_requests=MAX_REQUESTS_PER_WINDOW,
            watch_interval_s=0.25,
        )
        statuses.update(report.statuses())
        accepted_latencies.extend(o.latency_s for o in report.accepted)
        missing_retry_after += sum(
            1 for o in report.rejected if not o.retry_after or o.problem_type != QUEUE_FULL
        )
        max_depth = max(max_depth, report.max_queue_depth)
        rss_peak = max(rss_peak, report.rss_peak)
        summary = report.summary()
        windows.append(summary)
        print(
            f"t={time.perf_counter() - started:6.1f}s sent {summary['sent']:5d} ({summary['sent_per_s']}/s) "
            f"{summary['statuses']} p99 accepted {summary['p99_accepted_s']:.3f}s "
            f"depth {summary['max_queue_depth']} RSS {summary['rss_after_mb']} MB",
            flush=True,
        )
    rss_end = server.rss_bytes()
    duration = time.perf_counter() - started
    bound = queue_size + 2 * batch
    p99 = percentile(accepted_latencies, 99)
    return {
        "capacity_per_s": round(capacity, 1),
        "offered_per_s": round(factor * capacity, 1),
        "seconds": round(duration, 1),
        "requests": sum(statuses.values()),
        "statuses": {str(k): v for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0]))},
        "accepted_per_s": round(statuses[200] / duration, 1),
        "p50_accepted_s": round(percentile(accepted_latencies, 50), 3),
        "p99_accepted_s": round(p99, 3),
        "p99_limit_s": round(2.0 + 5 * bound / capacity, 3),
        "max_queue_depth": max_depth,
        "queue_size": queue_size,
        "rejected_without_retry_after": missing_retry_after,
        "rss_after_warmup_mb": round(rss_baseline / 2**20, 1),
        "rss_peak_mb": round(rss_peak / 2**20, 1),
        "rss_end_mb": round(rss_end / 2**20, 1),
        "rss_growth_pct": round(100 * (rss_end - rss_baseline) / rss_baseline, 2),
        "server_alive": server.alive,
    }


def verdict(result: dict[str, Any], rss_growth_limit: float) -> list[str]:
    problems = []
    statuses = {int(k) if k != "None" else None for k in result["statuses"]}
    if None in statuses:
        problems.append("requests ended without an answer")
    if statuses - {200, 503, None}:
        problems.append(f"statuses other than 200 and 503: {result['statuses']}")
    if result["rejected_without_retry_after"]:
        problems.append("503s without Retry-After or a queue-full problem")
    if result["max_queue_depth"] > result["queue_size"]:
        problems.append("the queue exceeded its bound")
    if result["p99_accepted_s"] > result["p99_limit_s"]:
        problems.append("p99 of accepted requests over its bound")
    if result["rss_growth_pct"] > 100 * rss_growth_limit:
        problems.append(f"RSS grew more than {100 * rss_growth_limit:.0f}%")
    if not result["server_alive"]:
        problems.append("the server died")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.reliability.long.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=600.0, help="length of the overload (default 600)")
    parser.add_argument("--factor", type=float, default=2.0, help="offered load / capacity (default 2)")
    parser.add_argument("--window", type=float, default=10.0, help="seconds per reported window (default 10)")
    parser.add_argument("--rss-growth", type=float, default=0.10, help="allowed RSS growth (default 0.10)")
    args = parser.parse_args(argv)
    if not 0 < args.seconds <= 24 * 3600 or not 0 < args.factor <= 20:
        parser.error("--seconds must be in (0, 86400] and --factor in (0, 20]")

    with live_server() as server:
        settings = server.settings
        result = asyncio.run(
            soak(
                server,
                seconds=args.seconds,
                factor=args.factor,
                window_s=args.window,
                queue_size=int(settings["queue_size"]),
                batch=int(settings["max_batch_size"]),
            )
        )
    problems = verdict(result, args.rss_growth)
    result["problems"] = problems
    print(json.dumps(result, indent=2))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
