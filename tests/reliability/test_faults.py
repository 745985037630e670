"""Faults: clients that vanish mid-upload or mid-inference, one poisoned item in a batch, deadlines, and
shutdown under load. Each ends with every request answered (or its client gone) and the service healthy.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import numpy as np
import pytest
import torch
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from harness.live import HOST, LiveServer
from harness.load import Outcome, exchange, predict_request
from harness.threaded import ThreadServer
from service.runner import Answer, ModelRunner, WorkItem
from service.settings import Settings
from tests.support.app import Gate, serve, wait_until
from tests.support.images import encode, multipart, png_bytes
from tests.support.problems import assert_problem

from .answers import health_errors
from .config import API_KEY, AUTH, LIVE_SETTINGS
from .figures import record

pytestmark = pytest.mark.anyio


def white_png() -> bytes:
    return encode(Image.new("L", (64, 64), 255), "PNG")


def metric(app: Any, name: str, labels: dict[str, str] | None = None) -> float:
    value = app.state.metrics.registry.get_sample_value(name, labels or {})
    return float(value or 0.0)


def http_metric(text: str, name: str, **labels: str) -> float:
    """One sample from Prometheus text (``/metrics`` of a live server); 0 when absent."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def start_upload(port: int, declared_length: int, sent: bytes, path: str = "/predict") -> socket.socket:
    """A raw HTTP request whose body is ``sent``, out of ``declared_length`` bytes announced."""
    sock = socket.create_connection((HOST, port), timeout=30)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: {AUTH['Authorization']}\r\n"
        f"Content-Type: image/png\r\nContent-Length: {declared_length}\r\n\r\n"
    ).encode()
    sock.sendall(head + sent)
    return sock


# --- client disconnects --------------------------------------------------------------------------------


async def test_clients_vanishing_mid_upload_release_their_places_and_leave_the_service_healthy(
    live_server: LiveServer,
) -> None:
    # More half-sent uploads than the queue has places: the surplus is refused at once; the others hold
    # their places while their bodies trickle in. If a vanished client kept its place, the queue would
    # stay full and every later request would be refused.
    places = int(LIVE_SETTINGS["queue_size"])
    uploads = places + 4
    body = png_bytes()
    async with httpx.AsyncClient(base_url=live_server.url, timeout=60) as client:

        async def counted(status: str) -> float:
            text = (await client.get("/metrics", headers=AUTH)).text
            return http_metric(
                text, "cxr_http_requests_total", method="POST", route="/predict", status=status
            )

        async def wait_for(status: str, count: float) -> None:
            deadline = time.monotonic() + 30
            while await counted(status) < count:
                assert time.monotonic() < deadline, f"never {count} answers {status}"
                await anyio.sleep(0.05)

        gone_before, refused_before = await counted("499"), await counted("503")
        sockets = [start_upload(live_server.port, 200_000, body[:500]) for _ in range(uploads)]
        await wait_for("503", refused_before + uploads - places)
        for sock in sockets:
            sock.close()
        await wait_for("499", gone_before + places)
        answers = [
            await client.post("/predict", content=body, headers={**AUTH, "content-type": "image/png"})
            for _ in range(places + 2)
        ]
        ready = (await client.get("/readyz")).json()
        gone, refused = await counted("499") - gone_before, await counted("503") - refused_before

    assert (gone, refused) == (places, uploads - places)
    assert [response.status_code for response in answers] == [200] * (places + 2)
    assert ready["queue_depth"] == 0
    assert live_server.alive


async def test_a_client_vanishing_mid_inference_costs_only_its_own_request(
    make_settings: Callable[..., Settings], gate: Gate
) -> None:
    settings = make_settings(api_keys=[API_KEY], max_batch_size=1, max_wait_ms=0)
    with ThreadServer(settings) as server:
        app = server.app
        gate.arm()
        body = png_bytes()
        running = start_upload(server.port, len(body), body)
        await gate.wait_entered()
        queued = start_upload(server.port, len(body), body)
        await wait_until(lambda: app.state.worker.queue_depth == 1, timeout_s=30)
        running.close()
        queued.close()
        await wait_until(
            lambda: (
                metric(
                    app, "cxr_http_requests_total", {"method": "POST", "route": "/predict", "status": "499"}
                )
                == 2
            ),
            timeout_s=30,
        )
        gate.release()
        await wait_until(
            lambda: metric(app, "cxr_inference_dropped_total", {"reason": "cancelled"}) == 1, timeout_s=30
        )
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            health = await health_errors(client, body)

    assert not health, health
    # Two forward passes: the request already running, and the health probe. The queued one was dropped.
    assert metric(app, "cxr_inference_batch_size_count") == 2
    assert app.state.worker.queue_depth == 0


# --- one bad item in a batch ---------------------------------------------------------------------------


async def test_an_exception_on_one_item_of_a_batch_fails_only_that_request(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []

    real = ModelRunner.run

    def poisoned(runner: ModelRunner, items: list[WorkItem], with_cam: list[bool]) -> list[Answer]:
        batches.append(len(items))
        flat = torch.from_numpy(np.stack([item.inputs for item in items])).flatten(1)
        # The all-white image is the poisoned one: every value of its normalized input is the maximum.
        if bool(((flat == flat[:, :1]).all(dim=1) & (flat[:, 0] > 0.99)).any()):
            raise RuntimeError("this item breaks the model")
        return real(runner, items, with_cam)

    settings = make_settings(max_batch_size=4, max_wait_ms=500)
    async with serve(settings) as svc:
        alone = [
            (await svc.client.post("/predict", files=multipart(png_bytes(seed=s)))).json() for s in (1, 2, 3)
        ]
        monkeypatch.setattr(ModelRunner, "run", poisoned)
        requests = [white_png(), png_bytes(seed=1), png_bytes(seed=2), png_bytes(seed=3)]
        responses = await asyncio.gather(
            *(svc.client.post("/predict", files=multipart(data)) for data in requests)
        )
        monkeypatch.undo()
        health = await health_errors(svc.client, png_bytes())

    assert batches[0] > 1, f"the requests were never batched together ({batches}): nothing was tested"
    assert_problem(responses[0], 500, "internal-error")
    assert "breaks the model" not in responses[0].text
    assert [r.status_code for r in responses[1:]] == [200, 200, 200]
    for expected, response in zip(alone, responses[1:], strict=True):
        assert response.json()["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-5)
    assert not health, health


# --- deadlines -----------------------------------------------------------------------------------------


async def test_requests_past_their_deadline_get_504_their_work_is_dropped_and_the_service_recovers(
    make_settings: Callable[..., Settings], gate: Gate
) -> None:
    settings = make_settings(max_batch_size=1, max_wait_ms=0, request_timeout_s=1.0, queue_size=8)
    async with serve(settings) as svc:
        batches_before = svc.metric("cxr_inference_batch_size_count")
        gate.arm()
        running = asyncio.ensure_future(svc.client.post("/predict", files=multipart(png_bytes())))
        await gate.wait_entered()
        queued = [
            asyncio.ensure_future(svc.client.post("/predict", files=multipart(png_bytes(seed=s))))
            for s in range(5)
        ]
        late = await asyncio.gather(*queued)
        gate.release()
        held = await running
        await wait_until(lambda: svc.metric("cxr_inference_dropped_total", {"reason": "cancelled"}) == 5)
        health = await health_errors(svc.client, png_bytes())

        for response in [*late, held]:
            assert_problem(response, 504, "deadline-exceeded")
        # The five queued requests never reached the model: one batch for the held one, one for the probe.
        assert svc.metric("cxr_inference_batch_size_count") - batches_before == 2
        assert svc.worker.queue_depth == 0
        assert not health, health


# --- shutdown under load -------------------------------------------------------------------------------


async def test_shutdown_under_load_finishes_in_flight_requests_and_refuses_new_ones_clearly(
    make_settings: Callable[..., Settings], gate: Gate
) -> None:
    settings = make_settings(api_keys=[API_KEY], max_batch_size=1, max_wait_ms=0, drain_timeout_s=20)
    headers = {**AUTH, "content-type": "image/png"}
    body = png_bytes()
    # No keep-alive: each request its own connection, as independent hospital systems would send them.
    limits = httpx.Limits(max_keepalive_connections=0)
    server = ThreadServer(settings).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client:
            gate.arm()
            in_flight = [
                asyncio.ensure_future(client.post("/predict", content=body, headers=headers))
                for _ in range(7)
            ]
            await gate.wait_entered()
            worker = server.app.state.worker
            # All seven received: one held in the model, six queued (none still being decoded).
            await wait_until(lambda: worker.queue_depth == 6, timeout_s=30)

            server.terminate()
            await wait_until(lambda: not worker.accepting, timeout_s=10)
            late = [await refusal_or_error(client, headers, body) for _ in range(3)]
            gate.release()
            finished = await asyncio.gather(*in_flight)
        await anyio.to_thread.run_sync(server.join, 60.0)
    finally:
        gate.release()
        server.stop()

    assert [response.status_code for response in finished] == [200] * 7
    for outcome in late:
        assert outcome in {"503 draining", "connection refused", "closed unanswered"}, late


async def refusal_or_error(client: httpx.AsyncClient, headers: dict[str, str], body: bytes) -> str:
    try:
        response = await client.post("/predict", content=body, headers=headers)
    except httpx.ConnectError:
        return "connection refused"
    except (httpx.RemoteProtocolError, httpx.ReadError):
        # Connected while the server was closing: it closed the connection before reading the request.
        return "closed unanswered"
    if response.status_code == 503 and response.headers.get("retry-after"):
        return f"503 {response.json()['type'].rsplit(':', 1)[-1]}"
    return f"{response.status_code} {response.text[:200]}"


@pytest.mark.slow
async def test_sigterm_under_load_answers_every_request_the_server_took(weights_path: Path) -> None:
    """The real command line under a closed loop of clients, stopped by a real SIGTERM.

    Every request the app received is answered: 200 (in flight or queued: finished), or 503 draining.
    A connection the server had accepted but not yet read when it closed is closed unanswered, and one
    that arrives after it closed is refused: the client sees a transport error, and the app never saw
    the request (the access log and the client's answers agree one for one).
    """
    settings = {
        "weights_path": weights_path,
        "device": "cpu",
        "api_keys": [API_KEY],
        "max_batch_size": 4,
        "queue_size": 8,
        "min_side": 16,
        "overlay_max_side": 96,
        "torch_threads": 1,
        "drain_timeout_s": 20,
    }
    outcomes: list[Outcome] = []
    with LiveServer(settings) as server:
        payload = predict_request(AUTH, png_bytes(), server.port)
        stop_at = time.perf_counter() + 30

        async def one_client() -> None:
            while time.perf_counter() < stop_at:
                outcome = await exchange(server.port, payload, timeout_s=60)
                outcomes.append(outcome)
                if outcome.error == "ConnectionRefusedError":
                    return  # the server has closed its socket: this client is done

        clients = asyncio.gather(*(one_client() for _ in range(12)))
        await anyio.sleep(1.5)
        signalled = time.time()
        server.signal(signal.SIGTERM)
        await clients
        code = await anyio.to_thread.run_sync(server.wait, 60.0)
        logs = server.json_logs()

    kinds: Counter[str] = Counter()
    for outcome in outcomes:
        if outcome.status == 200:
            kinds["200"] += 1
        elif outcome.status == 503 and outcome.retry_after and outcome.problem_type:
            kinds[f"503 {outcome.problem_type.rsplit(':', 1)[-1]}"] += 1
        elif outcome.error == "ConnectionRefusedError":
            kinds["refused"] += 1
        elif outcome.status is None:
            kinds["closed unanswered"] += 1
        else:
            kinds[f"unexpected {outcome.status}"] += 1
    answered = Counter(o.status for o in outcomes if o.status is not None)
    logged = Counter(
        line["status"]
        for line in logs
        if line.get("logger") == "service.access" and line.get("route") == "/predict"
    )
    finished_after_signal = sum(
        1 for o in outcomes if o.status == 200 and o.started < signalled < o.started + o.latency_s
    )
    unanswered_before_signal = [o for o in outcomes if o.status is None and o.started < signalled - 1.0]
    stopped = [line for line in logs if line.get("message") == "inference worker stopped"]
    record(
        "SIGTERM under load (12 clients)",
        f"{dict(kinds)}; {finished_after_signal} requests in flight at the signal finished with 200; the app "
        f"logged {sum(logged.values())} requests and the clients got {sum(answered.values())} answers",
    )

    assert code in (0, -signal.SIGTERM)
    assert not [kind for kind in kinds if kind.startswith("unexpected")], kinds
    assert answered == logged, "a request the app received went unanswered (or the reverse)"
    assert not unanswered_before_signal, unanswered_before_signal
    assert finished_after_signal > 0, "no request was in flight at the signal: nothing was tested"
    assert kinds["503 draining"] + kinds["refused"] > 0
    assert stopped and stopped[0].get("dropped") == 0
