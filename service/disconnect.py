"""Awaiting work on behalf of a client that may go away."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from starlette.requests import Request

from service.errors import ClientDisconnectedError

T = TypeVar("T")


async def _wait_for_disconnect(request: Request) -> None:
    # The body has been read, so the next message the server sends is the disconnect (or nothing at all
    # until the response is complete).
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(request: Request, work: Coroutine[Any, Any, T]) -> T:
    """Await ``work``; if the client goes away first, cancel it (dropping its queued inference)."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_wait_for_disconnect(request))
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
    if task not in done:
        raise ClientDisconnectedError(
            "The client disconnected before the answer was ready; the work was dropped."
        )
    return task.result()
