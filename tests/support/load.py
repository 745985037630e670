"""The load generator: requests against a server on 127.0.0.1, in a closed or an open loop, always bounded
in time and in number.

A loop calls a :data:`Send` (request index in, :class:`Outcome` out); two kinds are built here:

- :func:`raw_sender` speaks HTTP/1.1 itself over asyncio streams, one connection per request (as
  independent clients would), with the request bytes built once: it costs a fraction of a millisecond per
  request, so on a small machine the client keeps up with the rate it is asked for (the reliability suite).
- :func:`httpx_sender` keeps its connections open, as the web page or an integration engine does, and
  sends each request's body in turn from a list (the benchmark).

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

import httpx

from tests.support.live import HOST


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


def raw_sender(port: int, payload: bytes, timeout_s: float = 60) -> Send:
    """The same prepared request (:func:`predict_request`) every time, each on its own connection."""

    async def send(index: int) -> Outcome:
        return await exchange(port, payload, timeout_s)

    return send


@dataclass(frozen=True)
class Body:
    content: bytes
    content_type: str


def httpx_sender(
    client: httpx.AsyncClient, url: str, bodies: Sequence[Body], check: Callable[[bytes], str | None]
) -> Send:
    """``POST url`` with request ``index``'s body (they take turns) on ``client``'s open connections.

    ``check`` looks at a 200's body and says what is wrong with it, or None.
    """

    async def send(index: int) -> Outcome:
        body = bodies[index % len(bodies)]
        started_wall, started = time.time(), time.perf_counter()
        try:
            response = await client.post(
                url, content=body.content, headers={"content-type": body.content_type}
            )
        except httpx.HTTPError as exc:
            return Outcome(started_wall, time.perf_counter() - started, None, error=type(exc).__name__)
        latency = time.perf_counter() - started
        error = check(response.content) if response.status_code == 200 else None
        return Outcome(started_wall, latency, response.status_code, error=error)

    return send
