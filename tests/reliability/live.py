"""The service as a client meets it: ``python -m service`` in a subprocess, or uvicorn in a thread.

:class:`LiveServer` is the real command line (real JSON logs on stdout, real signals, its own RSS);
:class:`ThreadServer` is the same uvicorn server class in this process, for tests that must hold the
worker still (``tests.service.harness.Gate``) or stop the server at an exact moment.
Both listen on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, Final

import httpx
import uvicorn

from service.__main__ import DrainingServer
from service.main import begin_drain, create_app
from service.settings import Settings

REPO: Final = Path(__file__).resolve().parents[2]
HOST: Final = "127.0.0.1"
API_KEY: Final = "reliability-key-8c41d2"
AUTH: Final = {"Authorization": f"Bearer {API_KEY}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def settings_env(**settings: Any) -> dict[str, str]:
    """``CXR_*`` variables for these settings (lists comma-joined)."""
    env = {}
    for name, value in settings.items():
        text = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        env[f"CXR_{name.upper()}"] = text
    return env


class LiveServer:
    """``python -m service`` on a free port; everything it prints is kept, line by line."""

    def __init__(self, settings: Mapping[str, Any], startup_timeout_s: float = 180.0) -> None:
        self.settings = dict(settings)
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self._startup_timeout_s = startup_timeout_s
        base = {name: value for name, value in os.environ.items() if not name.startswith("CXR_")}
        self._env = {**base, **settings_env(**settings), "PYTHONUNBUFFERED": "1"}
        self._lines: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._readers: list[threading.Thread] = []
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> LiveServer:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service", "--host", HOST, "--port", str(self.port)],
            cwd=REPO,
            env=self._env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="backslashreplace",
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        for name, stream in (("stdout", self.process.stdout), ("stderr", self.process.stderr)):
            reader = threading.Thread(target=self._read, args=(name, stream), daemon=True)
            reader.start()
            self._readers.append(reader)
        self._wait_ready()
        return self

    def _read(self, name: str, stream: IO[str]) -> None:
        for line in stream:
            with self._lock:
                self._lines.append((name, line.rstrip("\n")))

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._startup_timeout_s
        while True:
            if not self.alive:
                raise RuntimeError(f"the service exited during startup:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the service was not ready within {self._startup_timeout_s} s")
            time.sleep(0.1)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        """Everything printed so far, stdout and stderr interleaved as read."""
        with self._lock:
            return "\n".join(line for _, line in self._lines)

    def mark(self) -> int:
        """A position in the output; :meth:`output_since` returns what came after it."""
        with self._lock:
            return len(self._lines)

    def output_since(self, mark: int) -> str:
        with self._lock:
            return "\n".join(line for _, line in self._lines[mark:])

    def json_logs(self, since: int = 0) -> list[dict[str, Any]]:
        """The stdout lines that are JSON objects (the service's log records), from mark ``since``."""
        with self._lock:
            lines = [line for stream, line in self._lines[since:] if stream == "stdout"]
        records = []
        for line in lines:
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

    def signal(self, sig: int = signal.SIGTERM) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait(self, timeout_s: float = 60.0) -> int:
        assert self.process is not None
        code = self.process.wait(timeout=timeout_s)
        for reader in self._readers:
            reader.join(timeout=5)
        return code

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit within a minute."""
        if self.process is None:
            return
        if self.alive:
            self.signal(signal.SIGTERM)
            try:
                self.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.wait(10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ThreadServer:
    """``create_app(settings)`` behind the service's own ``DrainingServer``, in a daemon thread."""

    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings)
        config = uvicorn.Config(
            self.app,
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
                raise RuntimeError("the service stopped during startup")
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
