"""The worker under load: batches form, the queue is bounded, deadlines hold, gone clients cost nothing."""

from __future__ import annotations

import asyncio
import base64
import io
import time
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from typing import Any

import anyio
import numpy as np
import pytest
from PIL import Image
from starlette.types import Message

from service.main import begin_drain
from service.settings import Settings
from tests.support.app import Gate, Service, serve, wait_until
from tests.support.images import multipart, png_bytes

pytestmark = pytest.mark.anyio


def overlay_pixels(png_base64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(png_base64))).convert("RGB"), dtype=np.int16)


def predict(svc: Service, seed: int = 0, gradcam: bool = True) -> asyncio.Task[Any]:
    params = {"gradcam": str(gradcam).lower()}
    return asyncio.ensure_future(
        svc.client.post("/predict", params=params, files=multipart(png_bytes(seed=seed)))
    )


async def test_concurrent_requests_are_served_in_one_batch_with_the_same_answers(
    make_settings: Callable[..., Settings], gate: Gate
) -> None:
    async with serve(make_settings(max_batch_size=4)) as svc:
        alone = {seed: (await predict(svc, seed)).json() for seed in (1, 2, 3)}
        batches_before = svc.metric("cxr_inference_batch_size_count")
        gate.arm()
        blocker = predict(svc, seed=0)
        await gate.wait_entered()
        queued = [predict(svc, seed=1), predict(svc, seed=2, gradcam=False), predict(svc, seed=3)]
        await wait_until(lambda: svc.worker.queue_depth == 3)
        gate.release()
        responses = await asyncio.gather(blocker, *queued)

        assert [r.status_code for r in responses] == [200] * 4
        # Two forward passes for four requests: the blocker alone, then the three queued ones together.
        assert svc.metric("cxr_inference_batch_size_count") - batches_before == 2
        assert svc.metric("cxr_inference_batch_size_bucket", {"le": "3.0"}) >= 1
        for seed, response in zip((1, 2, 3), responses[1:], strict=True):
            body = response.json()
            assert body["probabilities"] == pytest.approx(alone[seed]["probabilities"], abs=1e-5)
            assert (body["gradcam"] is None) == (seed == 2)
            if seed != 2:
                # Convolutions may sum in another order for another batch size (channels-last kernels do),
                # so the map can differ in its last float bits: at most one level in a pixel, not bit-exact.
                batched = overlay_pixels(body["gradcam"]["overlay_png_base64"])
                single = overlay_pixels(alone[seed]["gradcam"]["overlay_png_base64"])
                assert batched.shape == single.shape
                assert np.abs(batched - single).max() <= 1


async def test_simultaneous_requests_wait_for_each_other_up_to_max_wait(
    make_settings: Callable[..., Settings],
) -> None:
    async with serve(make_settings(max_batch_size=8, max_wait_ms=300)) as svc:
        responses = await asyncio.gather(*(predict(svc, seed) for seed in range(5)))

        assert all(r.status_code == 200 for r in responses)
        assert svc.metric("cxr_inference_batch_size_sum") == 5
        assert svc.metric("cxr_inference_batch_size_count") < 5


async def test_a_lone_request_does_not_wait_max_wait_for_company(
    make_settings: Callable[..., Settings],
) -> None:
    # Nothing else is being read or decoded, so the batch starts at once instead of after max_wait_ms.
    async with serve(make_settings(max_batch_size=8, max_wait_ms=5_000)) as svc:
        started = time.monotonic()
        response = await predict(svc)

        assert response.status_code == 200
        assert time.monotonic() - started < 2.5
        assert svc.metric("cxr_inference_queue_wait_seconds_sum") < 1.0


async def test_full_queue_answers_503_with_retry_after(
    make_settings: Callable[..., Settings], gate: Gate
) -> None:
    settings = make_settings(max_batch_size=1, queue_size=1, max_wait_ms=0, retry_after_s=7)
    async with serve(settings) as svc:
        gate.arm()
        running = predict(svc)
        await gate.wait_entered()
        queued = predict(svc)
        await wait_until(lambda: svc.worker.queue_depth == 1)

        refused = await svc.client.post("/predict", files=multipart(png_bytes()))

        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "7"
        assert refused.json()["type"] == "urn:cxr-service:problem:queue-full"
        assert svc.metric("cxr_inference_rejected_total", {"reason": "queue_full"}) == 1
        gate.release()
        assert [(await running).status_code, (await queued).status_code] == [200, 200]


async def test_request_past_its_deadline_is_504_and_its_queued_work_is_dropped(
    make_settings: Callable[..., Settings], gate: Gate
) -> None:
    async with serve(make_settings(max_batch_size=1, max_wait_ms=0, request_timeout_s=0.3)) as svc:
        batches_before = svc.metric("cxr_inference_batch_size_count")
        gate.arm()
        running = predict(svc)
        await gate.wait_entered()
        queued = predict(svc)

        late = await queued
        gate.release()
        await running
        await wait_until(lambda: svc.metric("cxr_inference_dropped_total", {"reason": "cancelled"}) == 1)

        assert late.status_code == 504
        assert late.json()["type"] == "urn:cxr-service:problem:deadline-exceeded"
        # Only the request that was already running reached the model.
        assert svc.metric("cxr_inference_batch_size_count") - batches_before == 1


async def test_client_disconnect_drops_its_queued_work(
    make_settings: Callable[..., Settings], gate: Gate
) -> None:
    async with serve(make_settings(max_batch_size=1, max_wait_ms=0)) as svc:
        gate.arm()
        running = predict(svc)
        await gate.wait_entered()
        body = png_bytes()
        gone = anyio.Event()
        sent: list[Message] = []
        messages: Iterator[Message] = iter([{"type": "http.request", "body": body, "more_body": False}])

        async def receive() -> Message:
            message = next(messages, None)
            if message is not None:
                return message
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/predict",
            "raw_path": b"/predict",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"content-type", b"image/png"), (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        call = asyncio.ensure_future(svc.app(scope, receive, send))
        await wait_until(lambda: svc.worker.queue_depth == 1)
        gone.set()
        await call
        gate.release()
        await running

        await wait_until(lambda: svc.metric("cxr_inference_dropped_total", {"reason": "cancelled"}) == 1)
        assert sent[0]["status"] == 499
        assert (
            svc.metric("cxr_http_requests_total", {"method": "POST", "route": "/predict", "status": "499"})
            == 1
        )


async def test_draining_refuses_new_work_finishes_queued_work_and_turns_readyz_503(
    make_settings: Callable[..., Settings], gate: Gate
) -> None:
    async with AsyncExitStack() as stack:
        svc = await stack.enter_async_context(serve(make_settings(max_batch_size=1, max_wait_ms=0)))
        gate.arm()
        running = predict(svc)
        await gate.wait_entered()
        queued = predict(svc)
        await wait_until(lambda: svc.worker.queue_depth == 1)

        begin_drain(svc.app)
        ready = await svc.client.get("/readyz")
        refused = await svc.client.post("/predict", files=multipart(png_bytes()))
        alive = await svc.client.get("/healthz")

        assert ready.status_code == 503
        assert ready.json()["type"] == "urn:cxr-service:problem:draining"
        assert refused.status_code == 503
        assert refused.json()["type"] == "urn:cxr-service:problem:draining"
        assert alive.status_code == 200
        gate.release()
        assert [(await running).status_code, (await queued).status_code] == [200, 200]


async def test_shutdown_finishes_queued_work_before_the_lifespan_ends(
    make_settings: Callable[..., Settings], gate: Gate
) -> None:
    stack = AsyncExitStack()
    svc = await stack.enter_async_context(serve(make_settings(max_batch_size=1, max_wait_ms=0)))
    gate.arm()
    running = predict(svc)
    await gate.wait_entered()
    queued = predict(svc)
    await wait_until(lambda: svc.worker.queue_depth == 1)
    worker = svc.worker

    shutdown = asyncio.ensure_future(stack.aclose())
    # The drain has begun (on a busy machine that can take longer than any fixed pause), and waits.
    await wait_until(lambda: not worker.ready)
    await anyio.sleep(0.1)
    assert not shutdown.done()
    gate.release()
    await shutdown

    assert [(await running).status_code, (await queued).status_code] == [200, 200]
