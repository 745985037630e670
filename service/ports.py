"""Taking the listening port before anything slow happens: a port already in use, or an address that cannot
be bound, stops ``python -m service`` at once with a message naming the setting that changes it, not after
the model has loaded."""

from __future__ import annotations

import errno
import socket


class PortUnavailableError(RuntimeError):
    """The address cannot be bound; the message says which setting changes it."""


def bind_port(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (not listening yet), with the options uvicorn itself sets."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortUnavailableError(describe(host, port, exc)) from exc
    except BaseException:
        sock.close()
        raise
    return sock


def check_port(host: str, port: int) -> None:
    """Raises :class:`PortUnavailableError` when ``host:port`` cannot be bound now."""
    bind_port(host, port).close()


def describe(host: str, port: int, exc: OSError) -> str:
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    reason = exc.strerror or str(exc)
    if exc.errno == errno.EADDRINUSE:
        return (
            f"cannot serve on {address}: the port is already in use by another process. Stop that process, "
            f"or choose another port with --port, CXR_PORT or `make serve PORT=...`."
        )
    if exc.errno == errno.EACCES:
        return (
            f"cannot serve on {address}: {reason} (ports below 1024 need privileges). Choose another port "
            f"with --port, CXR_PORT or `make serve PORT=...`."
        )
    return (
        f"cannot serve on {address}: {reason}. Check the interface: --host, CXR_HOST or "
        f"`make serve HOST=...`."
    )
