"""The real service as a subprocess (``python -m service``) on a free loopback port."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningService:
    process: subprocess.Popen[bytes]
    base_url: str
    api_key: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def metrics_text(self) -> str:
        response = httpx.get(f"{self.base_url}/metrics", headers=self.headers, timeout=10)
        response.raise_for_status()
        return response.text


def _wait_ready(service: RunningService, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"the service exited with {service.process.returncode}:\n{service.log_tail()}")
        try:
            if httpx.get(f"{service.base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the service was not ready within {timeout_s:.0f} s:\n{service.log_tail()}")


@contextmanager
def run_service(
    settings: Mapping[str, str], *, ready_timeout_s: float = 120.0, cwd: Path = ROOT
) -> Iterator[RunningService]:
    """Start ``python -m service`` with ``CXR_*`` ``settings`` (names without the prefix), wait for /readyz.

    Any ``CXR_*`` variable of the caller's environment is dropped, so only the defaults and ``settings``
    apply. An API key is set, as in production, and sent by the load generator. Logs go to a temporary
    file (JSON lines, production's INFO level), removed afterwards.
    """
    host, port = "127.0.0.1", free_port()
    api_key = secrets.token_urlsafe(24)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXR_")}
    env.update({f"CXR_{name.upper()}": value for name, value in settings.items()})
    env["CXR_API_KEYS"] = api_key
    with tempfile.TemporaryDirectory(prefix="cxr-bench-") as tmp:
        log_path = Path(tmp) / "service.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "service", "--host", host, "--port", str(port)],
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        service = RunningService(process, f"http://{host}:{port}", api_key, log_path)
        try:
            _wait_ready(service, ready_timeout_s)
            yield service
        finally:
            _stop(process)


def _stop(process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
