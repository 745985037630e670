"""The benchmark's load: ``concurrency`` clients in a closed loop (``harness.load``), each sending its
next PNG once answered, on kept-alive connections, bounded both in requests and in time.

Bodies are encoded once up front (multipart, as the web page sends them, or raw ``image/png``), so the
client spends its CPU on HTTP only. With ``processes > 1`` the clients are spread over that many processes,
for servers one Python process cannot saturate (a GPU).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from urllib.parse import urlsplit

from harness.load import Body, KeptConnections, Outcome, closed_loop, keepalive_sender

BOUNDARY = "cxr-bench-boundary-7d1f0c"


def make_bodies(pngs: Sequence[bytes], multipart: bool = True) -> list[Body]:
    if not multipart:
        return [Body(png, "image/png") for png in pngs]
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="xray.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    kind = f"multipart/form-data; boundary={BOUNDARY}"
    return [Body(head + png + tail, kind) for png in pngs]


@dataclass
class LoadResult:
    concurrency: int
    gradcam: bool
    latencies_s: list[float] = field(default_factory=list)
    """One entry per successful request (status 200 with the expected fields)."""
    errors: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @classmethod
    def of(cls, concurrency: int, gradcam: bool, outcomes: Sequence[Outcome], elapsed_s: float) -> LoadResult:
        errors = Counter(o.error or f"HTTP {o.status}" for o in outcomes if not o.ok)
        latencies = [o.latency_s for o in outcomes if o.ok]
        return cls(concurrency, gradcam, latencies, dict(errors), elapsed_s)

    @property
    def ok(self) -> int:
        return len(self.latencies_s)

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    @property
    def throughput(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s > 0 else 0.0


def _incomplete(content: bytes, gradcam: bool) -> str | None:
    """None when a 200's body is a full prediction."""
    if b'"label"' not in content or (gradcam and b'"overlay_png_base64"' not in content):
        return "incomplete body"
    return None


@dataclass
class StartGate:
    """Lets the caller take its "before" readings between the warm-up and the first counted request."""

    warm: threading.Event = field(default_factory=threading.Event)
    """Set by the load generator once warmed up."""
    go: threading.Event = field(default_factory=threading.Event)
    """Set by the caller once it is ready; the counted requests start then."""


@dataclass(frozen=True)
class LoadSpec:
    concurrency: int
    gradcam: bool
    max_requests: int
    max_seconds: float
    headers: dict[str, str] | None = None
    start_at: float | None = None
    """Wall-clock time (``time.time()``) to start measuring at, after the warm-up; lines up processes."""
    timeout_s: float = 60.0


async def run_load(
    base_url: str,
    bodies: Sequence[Body],
    spec: LoadSpec,
    warmup: bool = True,
    gate: StartGate | None = None,
) -> LoadResult:
    """Send up to ``max_requests`` (and none after ``max_seconds``) from ``concurrency`` clients."""
    path = f"/predict?gradcam={'true' if spec.gradcam else 'false'}"
    connections = KeptConnections(urlsplit(base_url).port or 80)
    try:
        check = partial(_incomplete, gradcam=spec.gradcam)
        send = keepalive_sender(connections, path, spec.headers or {}, bodies, check, spec.timeout_s)
        if warmup:  # opens every connection and warms the server's threads; not counted
            await asyncio.gather(*(send(i) for i in range(spec.concurrency)))
        if spec.start_at is not None:
            await asyncio.sleep(max(0.0, spec.start_at - time.time()))
        if gate is not None:
            gate.warm.set()
            await asyncio.to_thread(gate.go.wait)
        run = await closed_loop(
            send, concurrency=spec.concurrency, duration_s=spec.max_seconds, max_requests=spec.max_requests
        )
    finally:
        connections.close()
    return LoadResult.of(spec.concurrency, spec.gradcam, run.outcomes, run.duration_s)


def _run_in_process(base_url: str, bodies: Sequence[Body], spec: LoadSpec) -> LoadResult:
    return asyncio.run(run_load(base_url, bodies, spec))


def run_load_processes(
    base_url: str,
    bodies: Sequence[Body],
    spec: LoadSpec,
    processes: int = 1,
    gate: StartGate | None = None,
    start_delay_s: float = 5.0,
) -> LoadResult:
    """:func:`run_load` with the clients spread over ``processes`` processes (1: in this one), merged.

    Several processes warm up, then all start measuring at the same instant, ``start_delay_s`` from now;
    ``gate.warm`` is set half a second before it (``gate.go`` is not waited for).
    """
    if processes <= 1:
        return asyncio.run(run_load(base_url, bodies, spec, gate=gate))
    total = spec.concurrency
    shares = [n for n in (total // processes + (i < total % processes) for i in range(processes)) if n > 0]
    start_at = time.time() + start_delay_s
    specs = [
        replace(
            spec,
            concurrency=share,
            max_requests=max(1, spec.max_requests * share // total),
            start_at=start_at,
        )
        for share in shares
    ]
    timer = threading.Timer(max(0.0, start_at - 0.5 - time.time()), gate.warm.set) if gate else None
    if timer is not None:
        timer.start()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(len(specs), mp_context=context) as pool:
        parts = list(pool.map(_run_in_process, [base_url] * len(specs), [list(bodies)] * len(specs), specs))
    if timer is not None:
        timer.join()
    merged = LoadResult(concurrency=total, gradcam=spec.gradcam)
    errors: Counter[str] = Counter()
    for part in parts:
        merged.latencies_s.extend(part.latencies_s)
        errors.update(part.errors)
        merged.elapsed_s = max(merged.elapsed_s, part.elapsed_s)
    merged.errors = dict(errors)
    return merged
