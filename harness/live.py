"""The service as a client meets it, on 127.0.0.1: ``python -m service`` in a subprocess.

:class:`LiveServer` is the real command line (real JSON logs, real signals, its own RSS): the benchmark,
the reliability suite and its long runs use it. :class:`harness.threaded.ThreadServer` is the same server
in this process.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import httpx

REPO: Final = Path(__file__).resolve().parents[1]
HOST: Final = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def settings_env(settings: Mapping[str, Any]) -> dict[str, str]:
    """``CXR_*`` variables for these settings (names without the prefix; lists comma-joined)."""
    env = {}
    for name, value in settings.items():
        text = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        env[f"CXR_{name.upper()}"] = text
    return env


class LiveServer:
    """``python -m service`` (or ``module``) on a free port, with only the defaults and ``settings`` (no
    ``CXR_*`` of the caller's environment). Everything it prints, stdout and stderr, goes to a temporary
    file, kept until :meth:`stop`: reading it costs the caller nothing while a load runs."""

    def __init__(
        self,
        settings: Mapping[str, Any],
        *,
        startup_timeout_s: float = 180.0,
        module: str = "service",
        tree: Path | None = None,
    ) -> None:
        """``tree``: another checkout to run the service from (the benchmark's A/B), else this one."""
        self.settings = dict(settings)
        self.module = module
        self.tree = tree or REPO
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self._startup_timeout_s = startup_timeout_s
        base = {name: value for name, value in os.environ.items() if not name.startswith("CXR_")}
        self._env = {**base, **settings_env(self.settings), "PYTHONUNBUFFERED": "1"}
        if tree is not None:
            self._env["PYTHONPATH"] = str(tree)
        self._dir = tempfile.TemporaryDirectory(prefix="cxr-live-")
        self._log_path = Path(self._dir.name) / "service.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def headers(self) -> dict[str, str]:
        """The first API key, as the load generator and the benchmark send it."""
        keys = self.settings.get("api_keys") or []
        return {"X-API-Key": str(keys[0])} if keys else {}

    def start(self) -> LiveServer:
        with self._log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module, "--host", HOST, "--port", str(self.port)],
                cwd=self.tree,
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._startup_timeout_s
        while True:
            if not self.alive:
                code = self.process.returncode if self.process else None
                raise RuntimeError(f"the service exited with {code} during startup:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the service was not ready within {self._startup_timeout_s} s:\n{self.log_tail()}"
                )
            time.sleep(0.1)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _lines(self) -> list[str]:
        return self._log_path.read_bytes().decode("utf-8", "backslashreplace").splitlines()

    def output(self) -> str:
        """Everything printed so far, stdout and stderr interleaved as written."""
        return "\n".join(self._lines())

    def mark(self) -> int:
        """A position in the output (complete lines so far); :meth:`output_since` returns what follows."""
        return self._log_path.read_bytes().count(b"\n")

    def output_since(self, mark: int) -> str:
        return "\n".join(self._lines()[mark:])

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self._lines()[-lines:])

    def json_logs(self, since: int = 0) -> list[dict[str, Any]]:
        """The lines that are JSON objects (the service's log records), from mark ``since``."""
        records = []
        for line in self._lines()[since:]:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return records

    def rss_bytes(self) -> int:
        """The server process's resident set size, from /proc."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS in /proc status")

    def metrics_text(self) -> str:
        response = httpx.get(f"{self.url}/metrics", headers=self.headers, timeout=10)
        response.raise_for_status()
        return response.text

    def signal(self, sig: int = signal.SIGTERM) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait(self, timeout_s: float = 60.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout_s)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit within a minute; the output file goes with it."""
        if self.process is not None and self.alive:
            self.signal(signal.SIGTERM)
            try:
                self.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.wait(10)
        self._dir.cleanup()

    def __enter__(self) -> LiveServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
