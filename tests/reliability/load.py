"""Overload against a server on 127.0.0.1: capacity from a closed loop, then an open loop beyond it,
with the queue depth and the server's memory watched, and what the server's own log saw.

The loops and the raw HTTP/1.1 client are the shared load generator's (``harness.load``); nothing
here runs without a limit on both time and the number of requests.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import httpx

from harness.live import HOST
from harness.load import Outcome, Run, closed_loop, open_loop, predict_request, raw_sender
from harness.stats import percentile
from tests.support.images import png_bytes

HARD_REQUEST_CAP: Final = 20_000
"""No run sends more than this, whatever its rate and duration."""
QUEUE_FULL: Final = "urn:cxr-service:problem:queue-full"


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

    @classmethod
    def of(cls, run: Run, offered_per_s: float = 0.0) -> LoadReport:
        return cls(outcomes=run.outcomes, duration_s=run.duration_s, offered_per_s=offered_per_s)

    def accepted_latency(self, q: float) -> float:
        """The ``q``-th percentile (0-100) of the accepted requests' latency."""
        return percentile([outcome.latency_s for outcome in self.accepted], q)

    def rejected_latency(self, q: float) -> float:
        return percentile([outcome.latency_s for outcome in self.rejected], q)

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
            "p50_accepted_s": round(self.accepted_latency(50), 3),
            "p99_accepted_s": round(self.accepted_latency(99), 3),
            "p99_rejected_s": round(self.rejected_latency(99), 3),
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

    def latency(self, q: float) -> float:
        """The ``q``-th percentile (0-100) of the latency the server logged."""
        return percentile([end - start for start, end in self.intervals], q)

    @property
    def most_at_once(self) -> int:
        return most_at_once(self.intervals)


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
    run = await closed_loop(
        raw_sender(port, payload),
        concurrency=concurrency,
        duration_s=seconds,
        max_requests=min(5_000, HARD_REQUEST_CAP),
    )
    return LoadReport.of(run)


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
        run = await open_loop(
            raw_sender(port, payload),
            rate_per_s=rate_per_s,
            duration_s=seconds,
            max_requests=min(max_requests, HARD_REQUEST_CAP),
            max_in_flight=max_in_flight,
        )
    report = LoadReport.of(run, offered_per_s=rate_per_s)
    report.max_queue_depth = watcher.max_depth
    report.rss_before = rss_before
    report.rss_peak = max(watcher.rss_peak, rss_before)
    report.rss_after = rss() if rss else 0
    return report
