"""The load generator: requests against a server on 127.0.0.1, in a closed or an open loop, always bounded
in time and in number.

A loop calls a :data:`Send` (request index in, :class:`Outcome` out); two kinds are built here:

- :func:`raw_sender` speaks HTTP/1.1 itself over asyncio streams, one connection per request (as
  independent clients would), with the request bytes built once: it costs a fraction of a millisecond per
  request, so on a small machine the client keeps up with the rate it is asked for (the reliability suite).
- :func:`keepalive_sender` keeps its connections open, as the web page or an integration engine does,
  and sends each request's body in turn from a list, also built once (the benchmark, whose client shares
  the server's cores).

Every request sent is accounted for: it ends with a status, or with a transport error (counted, never
ignored).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from harness.live import HOST


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
    """A transport error's class name, or why a 200's body is not what was expected."""

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error is None


Send = Callable[[int], Awaitable[Outcome]]


@dataclass
class Run:
    outcomes: list[Outcome] = field(default_factory=list)
    duration_s: float = 0.0


async def closed_loop(send: Send, *, concurrency: int, duration_s: float, max_requests: int) -> Run:
    """``concurrency`` clients, each sending its next request when the last one is answered."""
    run = Run()
    issued = 0
    started = time.perf_counter()
    until = started + duration_s

    async def one_client() -> None:
        nonlocal issued
        while issued < max_requests and time.perf_counter() < until:
            index = issued
            issued += 1
            run.outcomes.append(await send(index))

    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    run.duration_s = time.perf_counter() - started
    return run


async def open_loop(
    send: Send, *, rate_per_s: float, duration_s: float, max_requests: int, max_in_flight: int
) -> Run:
    """Requests at a fixed rate whatever the answers, as independent clients send them.

    At most ``max_in_flight`` are outstanding: when the server is so slow that that many wait, the next
    waits for a slot (the client's own bound) rather than opening sockets without limit.
    """
    run = Run()
    slots = asyncio.Semaphore(max_in_flight)
    tasks: list[asyncio.Task[None]] = []
    budget = min(max_requests, math.ceil(rate_per_s * duration_s))
    interval = 1.0 / rate_per_s

    async def one(index: int) -> None:
        try:
            run.outcomes.append(await send(index))
        finally:
            slots.release()

    started = time.perf_counter()
    for index in range(budget):
        # Absolute schedule: a late tick is followed by quicker ones, so the average rate holds.
        delay = started + index * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await slots.acquire()
        tasks.append(asyncio.create_task(one(index)))
    await asyncio.gather(*tasks)
    run.duration_s = time.perf_counter() - started
    return run


def predict_request(auth: dict[str, str], body: bytes, port: int, content_type: str = "image/png") -> bytes:
    """``POST /predict`` with ``body`` as the raw image, on a connection that closes after the answer."""
    headers = [
        "POST /predict HTTP/1.1",
        f"Host: {HOST}:{port}",
        *(f"{name}: {value}" for name, value in auth.items()),
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    return ("\r\n".join(headers) + "\r\n\r\n").encode("latin-1") + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response: status, headers (lower-case names) and its Content-Length body."""
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionResetError("closed before the status line")
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", ""):
        raise ValueError("chunked responses are not read here")
    return status, headers, await reader.readexactly(int(headers.get("content-length", "0")))


async def exchange(port: int, payload: bytes, timeout_s: float) -> Outcome:
    """Send one request on a new connection; read the status, headers and (Content-Length) body."""
    started_wall, started = time.time(), time.perf_counter()
    writer = None
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(HOST, port)
            writer.write(payload)
            await writer.drain()
            status, headers, body = await read_response(reader)
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


def raw_sender(port: int, payload: bytes, timeout_s: float = 60) -> Send:
    """The same prepared request (:func:`predict_request`) every time, each on its own connection."""

    async def send(index: int) -> Outcome:
        return await exchange(port, payload, timeout_s)

    return send


@dataclass(frozen=True)
class Body:
    content: bytes
    content_type: str


def keepalive_request(path: str, headers: dict[str, str], body: Body, port: int) -> bytes:
    """``POST path`` with ``body``, asking to keep the connection open."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {HOST}:{port}",
        *(f"{name}: {value}" for name, value in headers.items()),
        f"Content-Type: {body.content_type}",
        f"Content-Length: {len(body.content)}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body.content


class KeptConnections:
    """Open connections to ``127.0.0.1:port``, each used by one request at a time and reused; one that
    failed, or that the server said it would close, is dropped and replaced by a new one when needed."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def take(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return self._idle.pop() if self._idle else await asyncio.open_connection(HOST, self.port)

    def give_back(self, connection: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self._idle.append(connection)

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


def keepalive_sender(
    connections: KeptConnections,
    path: str,
    headers: dict[str, str],
    bodies: Sequence[Body],
    check: Callable[[bytes], str | None],
    timeout_s: float = 60,
) -> Send:
    """``POST path`` with request ``index``'s body (they take turns) on kept-alive connections.

    ``check`` looks at a 200's body and says what is wrong with it, or None. The requests are built once
    and the responses read with :func:`read_response`: a fraction of a millisecond per request, where an
    HTTP library's client took about 4 ms of the same two cores the server runs on.
    """
    payloads = [keepalive_request(path, headers, body, connections.port) for body in bodies]

    async def send(index: int) -> Outcome:
        started_wall, started = time.time(), time.perf_counter()
        connection = None
        try:
            async with asyncio.timeout(timeout_s):
                connection = await connections.take()
                connection[1].write(payloads[index % len(payloads)])
                await connection[1].drain()
                status, answer, content = await read_response(connection[0])
        except (OSError, EOFError, TimeoutError, ValueError, IndexError) as exc:
            if connection is not None:
                connection[1].close()
            return Outcome(started_wall, time.perf_counter() - started, None, error=type(exc).__name__)
        latency = time.perf_counter() - started
        if answer.get("connection", "").lower() == "close":
            connection[1].close()
        else:
            connections.give_back(connection)
        error = check(content) if status == 200 else None
        return Outcome(started_wall, latency, status, error=error)

    return send
