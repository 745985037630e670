"""End to end: the service as a subprocess, driven at each concurrency, with its CPU and memory watched."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.cpu_split import UNSPLIT, CpuSplit, merge, name_threads, snapshot
from bench.loadgen import LoadResult, LoadSpec, StartGate, run_load_processes
from bench.quiet import QuietPolicy, measure_quietly
from bench.resources import RssWatcher, cpu_snapshot, family_usage, foreign_percent
from bench.scrape import UNKNOWN, ModelSide, model_side, scrape_processes
from bench.stats import LatencySummary, summarize
from harness.live import LiveServer
from harness.load import Body


def start_service(
    settings: Mapping[str, str],
    startup_timeout_s: float = 120.0,
    module: str = "service",
    tree: Path | None = None,
) -> LiveServer:
    """``python -m service`` as production runs it: the defaults, ``settings`` and an API key, which the load
    generator sends; from ``tree``, another checkout, when given. Use it as a context manager: it starts,
    waits for /readyz, and stops."""
    key = secrets.token_urlsafe(24)
    return LiveServer(
        {**settings, "api_keys": [key]}, startup_timeout_s=startup_timeout_s, module=module, tree=tree
    )


@dataclass(frozen=True)
class Scenario:
    """One service configuration: started once, then driven at every concurrency, Grad-CAM on and off."""

    name: str
    settings: dict[str, str]
    max_batch: int
    module: str = "service"
    """What ``python -m`` runs: the service, :mod:`bench.null_model` for the request path alone, or
    :mod:`bench.peer`."""
    metrics: bool = True
    """Whether it serves the service's ``/metrics`` (the peer does not: its model side is left blank)."""

    @property
    def processes(self) -> int:
        """Server processes (``CXR_WORKERS``)."""
        return int(self.settings.get("workers", "1"))


@dataclass
class Row:
    scenario: str
    max_batch: int
    gradcam: bool
    concurrency: int
    ok: int
    errors: dict[str, int]
    elapsed_s: float
    throughput: float
    latency: LatencySummary
    cpu_percent: float
    """Service process CPU over the run; 100 is one core."""
    peak_rss_mb: float
    foreign_cpu_percent: float
    """Other processes' CPU on the machine during the run (100 = one core): near 0 for a clean figure."""
    model: ModelSide
    cpu: CpuSplit = UNSPLIT
    """The service's CPU per request: its model side and its request path (:mod:`bench.cpu_split`)."""
    limit_images_per_s: float = float("nan")
    ratio_to_limit: float = float("nan")
    """To torch eager's limit (:mod:`bench.model_limit`)."""
    runner_limit_images_per_s: float = float("nan")
    ratio_to_runner: float = float("nan")
    """To the service's own model side's limit (:mod:`bench.runner_limit`)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _scrape(service: LiveServer, scenario: Scenario) -> dict[str, float] | None:
    return scrape_processes(service.metrics_text, scenario.processes) if scenario.metrics else None


def measure(
    service: LiveServer,
    scenario: Scenario,
    bodies: Sequence[Body],
    spec: LoadSpec,
    processes: int = 1,
) -> Row:
    """Drive ``service``; CPU, memory and the model's own metrics cover the counted requests only."""
    gate = StartGate()
    outcome: list[LoadResult] = []

    def drive() -> None:
        outcome.append(run_load_processes(service.url, bodies, spec, processes, gate))

    load = threading.Thread(target=drive, daemon=True)
    load.start()
    try:
        while not gate.warm.wait(0.05):
            if not load.is_alive():
                raise RuntimeError("the load generator ended before its warm-up did")
        threads = name_threads(service.pid) if scenario.metrics else None
        before_metrics = _scrape(service, scenario)
        split_before = snapshot(threads) if threads else None
        before = family_usage(service.pid)
        machine_before = cpu_snapshot((service.pid, os.getpid()))
        with RssWatcher(service.pid) as rss:
            gate.go.set()
            load.join()
    finally:
        gate.go.set()  # never leave the load generator waiting
    machine_after = cpu_snapshot((service.pid, os.getpid()))
    after = family_usage(service.pid)
    after_metrics = _scrape(service, scenario)
    if not outcome:
        raise RuntimeError("the load generator failed; see above")
    result = outcome[0]
    cpu = UNSPLIT
    if threads and split_before:
        split_after = snapshot(threads)  # before naming again: py-spy pauses the process
        merge(threads, name_threads(service.pid))
        cpu = CpuSplit.of(split_before, split_after, threads, result.ok)
    wall = result.elapsed_s
    return Row(
        scenario=scenario.name,
        max_batch=scenario.max_batch,
        gradcam=spec.gradcam,
        concurrency=spec.concurrency,
        ok=result.ok,
        errors=result.errors,
        elapsed_s=wall,
        throughput=result.throughput,
        latency=summarize(result.latencies_s),
        cpu_percent=100 * (after.cpu_s - before.cpu_s) / wall if wall > 0 else float("nan"),
        peak_rss_mb=rss.peak / 2**20,
        foreign_cpu_percent=foreign_percent(machine_before, machine_after),
        model=model_side(before_metrics, after_metrics, wall)
        if after_metrics and before_metrics
        else UNKNOWN,
        cpu=cpu,
    )


def run_scenario(
    scenario: Scenario,
    bodies: Sequence[Body],
    concurrencies: Sequence[int],
    *,
    max_requests: int,
    max_seconds: float,
    processes: int = 1,
    policy: QuietPolicy | None = None,
    progress: bool = True,
) -> list[Row]:
    """Start the service, drive it at each concurrency with Grad-CAM on then off; rerun disturbed runs."""
    policy = policy or QuietPolicy(retries=0)
    rows: list[Row] = []
    with start_service(scenario.settings, module=scenario.module) as running:
        # /readyz answered once one process was ready; the load's connections are kept for the whole run,
        # so every process must be listening before they are opened.
        if scenario.metrics:
            scrape_processes(running.metrics_text, scenario.processes, pause_s=0.05)
        for gradcam in (True, False):
            for concurrency in concurrencies:
                spec = LoadSpec(
                    concurrency=concurrency,
                    gradcam=gradcam,
                    max_requests=max_requests,
                    max_seconds=max_seconds,
                    headers=running.headers,
                )
                row, attempts = measure_quietly(
                    lambda: measure(running, scenario, bodies, spec, processes),  # noqa: B023 - called now
                    lambda r: r.foreign_cpu_percent,
                    policy,
                )
                row.extra["attempts"] = attempts
                rows.append(row)
                if progress:
                    print(
                        f"  {scenario.name:<12} gradcam={gradcam!s:<5} c={concurrency:<3} "
                        f"{row.throughput:7.1f} req/s  p50 {row.latency.p50_ms:7.1f} ms  "
                        f"p99 {row.latency.p99_ms:7.1f} ms  batch {row.model.mean_batch:4.1f}  "
                        f"errors {sum(row.errors.values())}  foreign CPU {row.foreign_cpu_percent:3.0f}%",
                        flush=True,
                    )
    return rows
