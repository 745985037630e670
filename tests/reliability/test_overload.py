"""Overload: about twice the measured capacity for a few seconds. The queue bound holds, what is beyond it
gets 503 with Retry-After at once, accepted requests keep a bounded latency, memory does not grow.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

import service.pipeline
from harness.live import LiveServer
from service.settings import Settings
from tests.support.app import serve, wait_until
from tests.support.images import multipart, png_bytes

from .config import AUTH, LIVE_SETTINGS
from .figures import record
from .load import QUEUE_FULL, ServerView, measure_capacity, overload

pytestmark = pytest.mark.anyio

QUEUE_SIZE = int(LIVE_SETTINGS["queue_size"])
BATCH = int(LIVE_SETTINGS["max_batch_size"])
RSS_GROWTH_LIMIT = 0.10


async def test_twice_the_capacity_is_answered_within_the_queue_bound_and_503_beyond_it(
    live_server: LiveServer,
) -> None:
    warmup = await measure_capacity(live_server.port, AUTH, seconds=2.0, concurrency=2 * BATCH)
    capacity = max(warmup.throughput, 1.0)
    mark = live_server.mark()
    load = await overload(
        live_server.port,
        AUTH,
        rate_per_s=2 * capacity,
        seconds=4.0,
        rss=live_server.rss_bytes,
        max_requests=3_000,
    )
    started = min(o.started for o in load.outcomes)

    def server_view() -> ServerView:
        return ServerView.from_logs(live_server.json_logs(since=mark), since=started)

    # The access log reaches this process through a file: wait until it has caught up.
    await wait_until(lambda: server_view().count >= len(load.accepted), timeout_s=10)
    server = server_view()
    statuses = load.statuses()
    # What an accepted request can wait behind: the queue, the batch running, one more being formed.
    bound = QUEUE_SIZE + 2 * BATCH
    p99 = load.accepted_latency(99)
    p99_limit = 2.0 + 5 * bound / capacity
    summary = load.summary()
    record(
        "overload (2x capacity, 4 s)",
        f"capacity {capacity:.0f}/s; offered {summary['offered_per_s']}/s, sent {load.sent} "
        f"({summary['sent_per_s']}/s): {summary['statuses']}; accepted p50/p99 {summary['p50_accepted_s']}/"
        f"{summary['p99_accepted_s']} s (server's log: p99 {server.latency(99):.3f} s); 503 p99 "
        f"{summary['p99_rejected_s']} s; queue depth max {load.max_queue_depth}/{QUEUE_SIZE}; most accepted "
        f"at once {load.most_accepted_at_once} (server's log: {server.most_at_once}); RSS "
        f"{summary['rss_before_mb']} -> {summary['rss_after_mb']} MB ({summary['rss_growth_pct']}%)",
    )

    assert not load.transport_errors, [o.error for o in load.transport_errors]
    assert set(statuses) <= {200, 503}, statuses
    assert load.rejected, f"2x capacity never filled the queue ({statuses}): nothing was tested"
    assert all(o.retry_after and o.problem_type == QUEUE_FULL for o in load.rejected)
    assert server.count == len(load.accepted) > 0
    assert load.max_queue_depth <= QUEUE_SIZE
    assert server.most_at_once <= 2 * bound, "accepted requests piled up beyond the queue bound"
    assert p99 <= p99_limit, f"p99 of accepted {p99:.2f} s over {p99_limit:.2f} s"
    assert load.rss_growth <= RSS_GROWTH_LIMIT, summary
    assert live_server.alive


async def test_requests_waiting_to_be_decoded_count_against_the_queue_bound(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """When decoding is the bottleneck the inference queue stays empty; the bound must still hold."""
    settings = make_settings(queue_size=6, decode_concurrency=2)
    release = threading.Event()
    decoding = threading.Semaphore(0)
    real_prepare = service.pipeline.Pipeline.prepare

    def slow_prepare(*args: Any, **kwargs: Any) -> Any:
        decoding.release()
        if not release.wait(timeout=30):
            raise TimeoutError("never released")
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(service.pipeline.Pipeline, "prepare", slow_prepare)
    async with serve(settings) as svc:
        requests = [
            asyncio.ensure_future(svc.client.post("/predict", files=multipart(png_bytes(seed=s))))
            for s in range(10)
        ]
        try:
            await wait_until(lambda: sum(r.done() for r in requests) == 4, timeout_s=30)
            refused = [r.result() for r in requests if r.done()]
            assert all(r.status_code == 503 for r in refused), [r.status_code for r in refused]
            assert all(r.headers["retry-after"] for r in refused)
        finally:
            release.set()
        answered = await asyncio.gather(*requests)

    assert sorted(r.status_code for r in answered) == [200] * 6 + [503] * 4
