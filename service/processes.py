"""``CXR_WORKERS=N``: N server processes on one listening socket, each with its own model.

One Python process spends several milliseconds of CPU per request outside the model (reading, decoding,
preprocessing, the overlay's PNG, JSON), much of it under the GIL, so it cannot use more than about one
core for that work. Here N children (``spawn``: nothing of the parent's threads or torch state is
inherited) each listen on their own socket bound to the port with ``SO_REUSEPORT``, and the kernel spreads
new connections over the listening ones by a hash of their addresses. (One shared listening socket would
not spread them: asyncio accepts every pending connection on each wake-up, so the first child to wake took
a whole burst of clients.) Each child is a complete service (:func:`service.server.serve`): its own
lifespan, model, queue and metrics. The parent binds the port too, without listening, so that a bad
address fails at once and the port stays taken while the service runs.

- Readiness: a child listens only once its model is loaded and warm, so connections go to ready children
  only; before the first is ready they are refused, as with one process. ``/readyz`` answers for the
  child that takes the connection.
- ``/metrics`` is the registry of the child that takes the scrape (``cxr_model_info`` names its pid).
- Stop: SIGTERM or SIGINT to the parent is passed on as SIGTERM to every child, each of which drains as
  one process does. A child that ends on its own (a crash, a failed startup) stops the others and the
  parent exits non-zero: the supervisor (Docker, Kubernetes, systemd) restarts the whole service.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
from collections.abc import Sequence
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

from service.logs import configure_logging
from service.settings import Settings

logger = logging.getLogger(__name__)

STARTUP_FAILED = 3
"""A child's exit code when its app never started (uvicorn's own code for that)."""


def run_workers(settings: Settings, host: str, port: int) -> int:
    """Blocking: serve with ``settings.workers`` children until stopped; the exit code for the parent.

    Port 0 is a free port chosen here, once: every child binds the one the parent holds.
    """
    # Bound, never listening: a bad address fails here, at once, and the port stays ours.
    sock = reuseport_socket(host, port)
    port = sock.getsockname()[1]
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=_child, args=(settings, host, port), name=f"cxr-worker-{index}")
        for index in range(settings.workers)
    ]
    stopping = False
    signalled: set[str] = set()

    def stop(sig: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        signalled.update(_terminate(children))

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for child in children:
            if stopping:
                break
            child.start()
            if stopping and child.name not in signalled:
                # The signal came while this child was starting, before it had a pid for stop() to use.
                signalled.update(_terminate([child]))
        started = sum(child.pid is not None for child in children)
        logger.info("worker processes started", extra={"workers": started, "host": host, "port": port})
        code = 0
        while running := [child for child in children if child.pid is not None and child.exitcode is None]:
            wait([child.sentinel for child in running])
            for child in running:
                if child.exitcode is None or stopping or code:
                    continue
                code = child.exitcode or 1
                logger.error(
                    "a worker process ended on its own; stopping the others",
                    extra={"pid": child.pid, "exit_code": child.exitcode},
                )
                _terminate(children)
        return code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()


def _terminate(children: Sequence[BaseProcess]) -> list[str]:
    """SIGTERM to each running child (each drains as one process does); the names of those it went to."""
    running = [child for child in children if child.pid is not None and child.exitcode is None]
    for child in running:
        child.terminate()
    return [child.name for child in running]


def reuseport_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _child(settings: Settings, host: str, port: int) -> None:
    """A worker process: the parent's settings (never the environment again), the one-process server on its
    own socket."""
    from service.server import serve

    configure_logging(settings.log_level)
    if not serve(settings, host, port, reuseport_socket(host, port)):
        sys.exit(STARTUP_FAILED)
