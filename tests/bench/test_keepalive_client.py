"""The benchmark's HTTP client: kept-alive connections, reused; closed ones replaced; failures counted."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from harness.load import Body, KeptConnections, Run, closed_loop, keepalive_sender

pytestmark = pytest.mark.anyio

BODIES = [Body(b"a", "text/plain"), Body(b"bb", "text/plain")]


def check(body: bytes) -> str | None:
    return None if body.startswith(b"ok") else "wrong body"


def response(status: int, body: bytes, close: bool = False) -> bytes:
    extra = "Connection: close\r\n" if close else ""
    return f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise AssertionError("no Content-Length in the request")


async def drive(
    answer: Callable[[bytes], bytes], concurrency: int = 2, requests: int = 10
) -> tuple[Run, int]:
    """A closed loop against a loopback server whose ``answer`` turns each request body into a response;
    also returns how many connections the server accepted."""
    accepted = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                reply = answer(await reader.readexactly(content_length(head)))
                writer.write(reply)
                await writer.drain()
                if b"Connection: close" in reply:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        connections = KeptConnections(server.sockets[0].getsockname()[1])
        send = keepalive_sender(connections, "/predict", {"X-API-Key": "k"}, BODIES, check, timeout_s=5)
        try:
            run = await closed_loop(send, concurrency=concurrency, duration_s=30, max_requests=requests)
        finally:
            connections.close()
    return run, accepted


async def test_each_client_keeps_one_connection_for_all_its_requests() -> None:
    run, accepted = await drive(lambda body: response(200, b"ok " + body))

    assert [o.ok for o in run.outcomes] == [True] * 10
    assert accepted == 2


async def test_a_connection_the_server_closes_is_replaced_and_no_request_is_lost() -> None:
    run, accepted = await drive(lambda body: response(200, b"ok", close=True), requests=6)

    assert [o.ok for o in run.outcomes] == [True] * 6
    assert accepted == 6


async def test_refusals_and_wrong_bodies_are_counted_not_hidden() -> None:
    replies = iter([response(401, b"no"), response(200, b"not a prediction")] * 2)

    run, _ = await drive(lambda body: next(replies), concurrency=1, requests=4)

    assert [(o.status, o.error) for o in run.outcomes] == [(401, None), (200, "wrong body")] * 2


async def test_a_server_that_hangs_up_mid_answer_is_a_transport_error() -> None:
    run, _ = await drive(
        lambda body: b"HTTP/1.1 200 X\r\nContent-Length: 100\r\nConnection: close\r\n\r\nok", requests=2
    )

    assert [o.error for o in run.outcomes] == ["IncompleteReadError"] * 2
    assert all(o.status is None for o in run.outcomes)
