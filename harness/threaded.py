"""The service on 127.0.0.1 in a thread of this process: the same uvicorn server class as
``python -m service``, for tests that must hold the worker still (a gate on the worker), stop the server at
an exact moment, or wrap the app (the browser tests)."""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from harness.live import HOST
from service.main import begin_drain, create_app
from service.server import DrainingServer
from service.settings import Settings


class ThreadServer:
    """``create_app(settings)`` behind the service's own ``DrainingServer``, in a daemon thread.

    ``wrap`` puts ASGI middleware of the test's own around the app (the browser tests hold predictions).
    """

    def __init__(self, settings: Settings, wrap: Callable[[ASGIApp], ASGIApp] | None = None) -> None:
        self.app = create_app(settings)
        config = uvicorn.Config(
            wrap(self.app) if wrap else self.app,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=max(1, round(settings.drain_timeout_s)),
        )
        self.server = DrainingServer(config, on_exit=lambda: begin_drain(self.app))
        # Bound here and handed to uvicorn: no window in which another process could take the port.
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind((HOST, 0))
        self.port: int = self.socket.getsockname()[1]
        self.url = f"http://{HOST}:{self.port}"
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def start(self, timeout_s: float = 120.0) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the service stopped during startup (see the log above)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the service did not start within {timeout_s} s")
            time.sleep(0.02)
        return self

    def terminate(self) -> None:
        """What SIGTERM does to ``python -m service`` (the handler, called from outside the loop's thread)."""
        loop = self.server_loop
        if loop is None:
            raise RuntimeError("the server is not running")
        loop.call_soon_threadsafe(self.server.handle_exit, signal.SIGTERM, None)

    @property
    def server_loop(self) -> Any:
        servers = getattr(self.server, "servers", None) or []
        for server in servers:
            loop = server.get_loop()
            if loop is not None:
                return loop
        return None

    def join(self, timeout_s: float = 60.0) -> None:
        self.thread.join(timeout_s)
        if self.thread.is_alive():
            raise RuntimeError(f"the server did not stop within {timeout_s} s")
        self.socket.close()

    def stop(self) -> None:
        if self.thread.is_alive():
            self.server.should_exit = True
            self.join()
        self.socket.close()

    def __enter__(self) -> ThreadServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
