"""``python -m service [--host H] [--port P]``: serve the API with uvicorn, one process."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from types import FrameType

import uvicorn

from service.logs import configure_logging
from service.main import begin_drain, create_app
from service.settings import SettingsError, settings_from_env


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


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = settings_from_env()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(
        prog="python -m service", description="Serve the chest X-ray classifier."
    )
    parser.add_argument("--host", default=settings.host, help=f"interface to bind (default {settings.host})")
    parser.add_argument(
        "--port", type=int, default=settings.port, help=f"port to bind (default {settings.port})"
    )
    args = parser.parse_args(argv)

    configure_logging(settings.log_level)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=max(1, round(settings.drain_timeout_s)),
        lifespan="on",
    )
    DrainingServer(config, on_exit=lambda: begin_drain(app)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
