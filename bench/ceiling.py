"""The null-model ceiling: what the request path alone can serve, with 1 and 2 server processes.

The service runs as :mod:`bench.null_model` (the model replaced by a stub that costs nothing), so every
request's CPU goes to HTTP, reading, decoding, preprocessing, the overlay and its PNG, and JSON. Reported
as requests/s, and per core: requests per CPU-second the service's processes used, which does not depend
on how many cores the load generator left it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.e2e import Row, Scenario, run_scenario
from bench.quiet import QuietPolicy
from bench.stats import ratio
from harness.load import Body

MODULE = "bench.null_model"


def run_ceiling(
    weights: Path,
    bodies: Sequence[Body],
    process_counts: Sequence[int],
    concurrency: int,
    *,
    max_requests: int,
    max_seconds: float,
    loadgen_processes: int = 1,
    policy: QuietPolicy | None = None,
) -> list[Row]:
    rows: list[Row] = []
    for workers in process_counts:
        settings = {"device": "cpu", "weights_path": str(weights.resolve()), "workers": str(workers)}
        scenario = Scenario(f"null-model x{workers}", settings, max_batch=8, module=MODULE)
        rows += run_scenario(
            scenario,
            bodies,
            [concurrency],
            max_requests=max_requests,
            max_seconds=max_seconds,
            processes=loadgen_processes,
            policy=policy,
        )
    return rows


def per_core(row: Row) -> float:
    """Requests per CPU-second of the service (its processes together); 100% CPU is one core."""
    return ratio(row.throughput, row.cpu_percent / 100)


def ceiling_table(rows: Sequence[Row]) -> str:
    header = (
        "| service | Grad-CAM | concurrency | req/s | service CPU % | req/s per core | p50 ms | p99 ms "
        "| errors | foreign CPU % |"
    )
    lines = [header, "|" + "---|" * header.count(" | ") + "---|"]
    for r in rows:
        lines.append(
            f"| {r.scenario} | {'on' if r.gradcam else 'off'} | {r.concurrency} | {r.throughput:.1f} "
            f"| {r.cpu_percent:.0f} | {per_core(r):.1f} | {r.latency.p50_ms:.1f} | {r.latency.p99_ms:.1f} "
            f"| {sum(r.errors.values())} | {r.foreign_cpu_percent:.0f} |"
        )
    return "\n".join(lines)


def scaling_text(rows: Sequence[Row]) -> str:
    """Throughput with the most processes over throughput with one, per Grad-CAM setting."""
    lines = []
    for gradcam in (True, False):
        picked = sorted(
            (r for r in rows if r.gradcam == gradcam), key=lambda r: int(r.scenario.split("x")[-1])
        )
        if len(picked) < 2:
            continue
        first, last = picked[0], picked[-1]
        lines.append(
            f"  Grad-CAM {'on' if gradcam else 'off'}: {last.scenario} / {first.scenario} = "
            f"{ratio(last.throughput, first.throughput):.2f}x requests/s, "
            f"{ratio(per_core(last), per_core(first)):.2f}x per core"
        )
    return "null-model scaling:\n" + "\n".join(lines) if lines else ""
