"""Bounded load against a server on 127.0.0.1: closed loop to measure capacity, open loop to overload it.

The load generator speaks HTTP/1.1 itself over asyncio streams, one connection per request (as
independent clients would), with the request bytes built once: it costs a fraction of a millisecond per
request, so on a small machine the client does not fall behind the rate it is asked for (httpx costs a
few milliseconds per request, which at a few hundred requests per second would be the bottleneck).

Every request sent is accounted for: it ends with a status, or with a transport error (counted, never
ignored). Nothing here runs without a limit on both time and the number of requests.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import httpx

from tests.service.images import png_bytes

from .live import HOST

HARD_REQUEST_CAP: Final = 20_000
"""No run sends more than this, whatever its rate and duration."""
QUEUE_FULL: Final = "urn:cxr-service:problem:queue-full"


@dataclass(frozen=True)
class Outcome:
    started: float
    """``time.time()`` when the request was sent."""
    latency_s: float
    status: int | None
    """None when the exchange ended without a response (see ``error``)."""
    problem_type: str | None = None
    retry_after: str | None = None
    error: str | None = None


def percentile(values: list[float], quantile: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(quantile * len(ordered)))
    return ordered[rank - 1]


def most_at_once(intervals: Iterable[tuple[float, float]]) -> int:
    """The largest number of ``(start, end)`` intervals that overlap at one moment."""
    events = sorted(edge for start, end in intervals for edge in ((start, 1), (end, -1)))
    current = peak = 0
    for _, change in events:
        current += change
        peak = max(peak, current)
    return peak


@dataclass
class LoadReport:
    outcomes: list[Outcome] = field(default_factory=list)
    duration_s: float = 0.0
    offered_per_s: float = 0.0
    max_queue_depth: int = 0
    rss_before: int = 0
    rss_peak: int = 0
    rss_after: int = 0

    @property
    def sent(self) -> int:
        return len(self.outcomes)

    def statuses(self) -> Counter[int | None]:
        return Counter(outcome.status for outcome in self.outcomes)

    @property
    def accepted(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.status == 200]

    @property
    def rejected(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.status == 503]

    @property
    def transport_errors(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.status is None]

    def accepted_latency(self, quantile: float) -> float:
        return percentile([outcome.latency_s for outcome in self.accepted], quantile)

    def rejected_latency(self, quantile: float) -> float:
        return percentile([outcome.latency_s for outcome in self.rejected], quantile)

    @property
    def most_accepted_at_once(self) -> int:
        return most_at_once((o.started, o.started + o.latency_s) for o in self.accepted)

    @property
    def throughput(self) -> float:
        """Answered 200s per second."""
        return len(self.accepted) / self.duration_s if self.duration_s else 0.0

    @property
    def rss_growth(self) -> float:
        """(after - before) / before."""
        return (self.rss_after - self.rss_before) / self.rss_before if self.rss_before else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "duration_s": round(self.duration_s, 2),
            "offered_per_s": round(self.offered_per_s, 1),
            "sent_per_s": round(self.sent / self.duration_s, 1) if self.duration_s else 0.0,
            "statuses": {str(k): v for k, v in sorted(self.statuses().items(), key=lambda kv: str(kv[0]))},
            "accepted_per_s": round(self.throughput, 1),
            "p50_accepted_s": round(self.accepted_latency(0.50), 3),
            "p99_accepted_s": round(self.accepted_latency(0.99), 3),
            "p99_rejected_s": round(self.rejected_latency(0.99), 3),
            "most_accepted_at_once": self.most_accepted_at_once,
            "max_queue_depth": self.max_queue_depth,
            "rss_before_mb": round(self.rss_before / 2**20, 1),
            "rss_peak_mb": round(self.rss_peak / 2**20, 1),
            "rss_after_mb": round(self.rss_after / 2**20, 1),
            "rss_growth_pct": round(100 * self.rss_growth, 2),
        }


@dataclass(frozen=True)
class ServerView:
    """Accepted ``/predict`` requests as the server's own access log recorded them."""

    intervals: list[tuple[float, float]]

    @classmethod
    def from_logs(cls, records: Iterable[dict[str, Any]], since: float = 0.0) -> ServerView:
        """Those that ended after ``since`` (a ``time.time()``)."""
        intervals = []
        for record in records:
            if record.get("logger") != "service.access" or record.get("route") != "/predict":
                continue
            if record.get("status") != 200:
                continue
            end = datetime.fromisoformat(str(record["ts"])).timestamp()
            if end < since:
                continue
            intervals.append((end - float(record["latency_ms"]) / 1000, end))
        return cls(intervals)

    @property
    def count(self) -> int:
        return len(self.intervals)

    def latency(self, quantile: float) -> float:
        return percentile([end - start for start, end in self.intervals], quantile)

    @property
    def most_at_once(self) -> int:
        return most_at_once(self.intervals)


def predict_request(auth: dict[str, str], body: bytes, port: int) -> bytes:
    """``POST /predict`` with ``body`` as a raw PNG, on a connection that closes after the answer."""
    headers = [
        "POST /predict HTTP/1.1",
        f"Host: {HOST}:{port}",
        *(f"{name}: {value}" for name, value in auth.items()),
        "Content-Type: image/png",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    return ("\r\n".join(headers) + "\r\n\r\n").encode("latin-1") + body


async def exchange(port: int, payload: bytes, timeout_s: float) -> Outcome:
    """Send one request on a new connection; read the status, headers and (Content-Length) body."""
    started_wall, started = time.time(), time.perf_counter()
    writer = None
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(HOST, port)
            writer.write(payload)
            await writer.drain()
            status_line = await reader.readline()
            if not status_line:
                raise ConnectionResetError("closed before the status line")
            status = int(status_line.split()[1])
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
    except (OSError, EOFError, TimeoutError, ValueError, IndexError) as exc:
        return Outcome(started_wall, time.perf_counter() - started, None, error=type(exc).__name__)
    finally:
        if writer is not None:
            writer.close()
    latency = time.perf_counter() - started
    problem = None
    if headers.get("content-type", "").startswith("application/problem+json"):
        problem = json.loads(body).get("type")
    return Outcome(started_wall, latency, status, problem, headers.get("retry-after"))


async def closed_loop(
    port: int,
    payload: bytes,
    *,
    concurrency: int,
    duration_s: float,
    max_requests: int,
    timeout_s: float = 60,
) -> LoadReport:
    """``concurrency`` clients, each sending its next request when the last one is answered."""
    report = LoadReport()
    until = time.perf_counter() + duration_s
    budget = min(max_requests, HARD_REQUEST_CAP)

    async def one_client() -> None:
        while time.perf_counter() < until and len(report.outcomes) < budget:
            report.outcomes.append(await exchange(port, payload, timeout_s))

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    report.duration_s = time.perf_counter() - started
    return report


async def open_loop(
    port: int,
    payload: bytes,
    *,
    rate_per_s: float,
    duration_s: float,
    max_requests: int,
    max_in_flight: int,
    timeout_s: float = 60,
) -> LoadReport:
    """Requests at a fixed rate whatever the answers, as independent clients send them.

    At most ``max_in_flight`` are outstanding: when the server is so slow that that many wait, the next
    waits for a slot (the client's own bound) rather than opening sockets without limit.
    """
    report = LoadReport(offered_per_s=rate_per_s)
    slots = asyncio.Semaphore(max_in_flight)
    tasks: list[asyncio.Task[None]] = []
    budget = min(max_requests, HARD_REQUEST_CAP, math.ceil(rate_per_s * duration_s))
    interval = 1.0 / rate_per_s

    async def one() -> None:
        try:
            report.outcomes.append(await exchange(port, payload, timeout_s))
        finally:
            slots.release()

    started = time.perf_counter()
    for index in range(budget):
        # Absolute schedule: a late tick is followed by quicker ones, so the average rate holds.
        delay = started + index * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await slots.acquire()
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    report.duration_s = time.perf_counter() - started
    return report


class Watcher:
    """Polls ``/readyz`` (its ``queue_depth``) and an RSS probe while a load runs."""

    def __init__(self, base_url: str, rss: Callable[[], int] | None = None, interval_s: float = 0.05) -> None:
        self._base_url = base_url
        self._rss = rss
        self._interval_s = interval_s
        self.max_depth = 0
        self.rss_peak = 0
        self.rss_samples: list[tuple[float, int]] = []
        self._task: asyncio.Task[None] | None = None

    async def _poll(self) -> None:
        async with httpx.AsyncClient(base_url=self._base_url, timeout=30) as client:
            while True:
                try:
                    response = await client.get("/readyz")
                    if response.status_code == 200:
                        self.max_depth = max(self.max_depth, int(response.json()["queue_depth"]))
                except httpx.HTTPError:
                    pass
                if self._rss is not None:
                    rss = self._rss()
                    self.rss_peak = max(self.rss_peak, rss)
                    self.rss_samples.append((time.time(), rss))
                await asyncio.sleep(self._interval_s)

    async def __aenter__(self) -> Watcher:
        self._task = asyncio.create_task(self._poll())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with suppress(asyncio.CancelledError):
            await self._task


async def measure_capacity(
    port: int, auth: dict[str, str], *, seconds: float, concurrency: int, image_size: int = 64
) -> LoadReport:
    """A closed loop of ``concurrency`` clients: its throughput is the capacity (and it warms up)."""
    payload = predict_request(auth, png_bytes(image_size, image_size), port)
    return await closed_loop(port, payload, concurrency=concurrency, duration_s=seconds, max_requests=5_000)


async def overload(
    port: int,
    auth: dict[str, str],
    *,
    rate_per_s: float,
    seconds: float,
    rss: Callable[[], int] | None = None,
    max_requests: int = 5_000,
    max_in_flight: int = 512,
    image_size: int = 64,
    watch_interval_s: float = 0.05,
) -> LoadReport:
    """An open loop at ``rate_per_s`` for ``seconds``, watching the queue depth and the server's RSS."""
    payload = predict_request(auth, png_bytes(image_size, image_size), port)
    rss_before = rss() if rss else 0
    async with Watcher(f"http://{HOST}:{port}", rss, watch_interval_s) as watcher:
        report = await open_loop(
            port,
            payload,
            rate_per_s=rate_per_s,
            duration_s=seconds,
            max_requests=max_requests,
            max_in_flight=max_in_flight,
        )
    report.max_queue_depth = watcher.max_depth
    report.rss_before = rss_before
    report.rss_peak = max(watcher.rss_peak, rss_before)
    report.rss_after = rss() if rss else 0
    return report
