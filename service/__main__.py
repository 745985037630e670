"""``python -m service [--host H] [--port P]``: serve the API with uvicorn, in ``CXR_WORKERS`` processes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from service.logs import configure_logging
from service.processes import run_workers
from service.settings import SettingsError, settings_from_env


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
    if settings.workers > 1:
        return run_workers(settings, args.host, args.port)
    # Imported here: the parent of several workers never loads torch or the app.
    from service.server import serve

    serve(settings, args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
