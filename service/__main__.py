"""``python -m service [--host H] [--port P]``: serve the API with uvicorn, in ``CXR_WORKERS`` processes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pydantic import TypeAdapter, ValidationError

from service.logs import configure_logging
from service.ports import PortUnavailableError, bind_port, check_port
from service.processes import run_workers
from service.settings import Port, SettingsError, settings_from_env


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
        "--port",
        type=_port,
        default=settings.port,
        help=f"port to bind, 0 for a free one (default {settings.port})",
    )
    args = parser.parse_args(argv)

    configure_logging(settings.log_level)
    # The port is taken (or checked) first: a busy one stops the service now, not after the model loads.
    try:
        if settings.workers > 1:
            check_port(args.host, args.port)
        else:
            sock = bind_port(args.host, args.port)
    except PortUnavailableError as exc:
        print(exc, file=sys.stderr)
        return 2
    if settings.workers > 1:
        return run_workers(settings, args.host, args.port)
    # Imported here: the parent of several workers never loads torch or the app.
    from service.server import serve

    serve(settings, args.host, sock.getsockname()[1], sock)
    return 0


def _port(text: str) -> int:
    try:
        return TypeAdapter(Port).validate_strings(text)
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc.errors()[0]['msg']}") from None


if __name__ == "__main__":
    sys.exit(main())
