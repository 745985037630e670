"""One server process: uvicorn with the app, a drain on the first stop signal, optionally on a bound socket.

``python -m service`` runs one of these itself, or, with ``CXR_WORKERS`` > 1, has
:mod:`service.processes` start several on one socket.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from types import FrameType

import uvicorn
from fastapi import FastAPI

from service.main import begin_drain, create_app
from service.settings import Settings


class DrainingServer(uvicorn.Server):
    """Marks the app draining the moment a stop signal arrives, before uvicorn closes its sockets."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A signal handler can interrupt code that holds a lock (the queue's, a metric's): the drain itself
        # runs on the event loop, as the next thing it does.
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            loop.call_soon_threadsafe(self._on_exit)
        super().handle_exit(sig, frame)


def make_server(app: FastAPI, settings: Settings, host: str, port: int) -> DrainingServer:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=max(1, round(settings.drain_timeout_s)),
        lifespan="on",
        ws="none",
    )
    return DrainingServer(config, on_exit=lambda: begin_drain(app))


def serve(settings: Settings, host: str, port: int, sock: socket.socket | None = None) -> bool:
    """Blocking: serve until stopped; False when the app never started (its lifespan failed)."""
    server = make_server(create_app(settings), settings, host, port)
    server.run(sockets=[sock] if sock is not None else None)
    return server.started
