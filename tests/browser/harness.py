"""What the browser tests run against: Debian's Chromium and the real service on a free local port."""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from service.main import create_app
from service.settings import load_settings

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
API_KEY = "browser-test-key-5f1c"
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def why_no_browser() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "browser tests need Playwright for Python (pip install playwright)"
    if not CHROMIUM.is_file():
        return f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install -y chromium)"
    return None


class HeldPredictions:
    """Holds every ``POST /predict`` for ``seconds`` before the app sees it: the page can be seen waiting."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/predict":
            await asyncio.sleep(self.seconds)
        await self.app(scope, receive, send)


class ServiceThread:
    """The real app (``create_app``) served by uvicorn on 127.0.0.1:<free port>, in a daemon thread."""

    def __init__(self, weights: Path, api_keys: list[str], hold_predictions_s: float = 0.0) -> None:
        settings = load_settings(
            weights_path=weights,
            api_keys=api_keys,
            device="cpu",
            torch_threads=2,
            log_level="WARNING",
        )
        app: ASGIApp = create_app(settings)
        if hold_predictions_s:
            app = HeldPredictions(app, hold_predictions_s)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        # Bound here, handed to uvicorn: no window in which another process could take the port.
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def start(self, timeout_s: float = 120.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the service stopped during startup (see the log above)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the service did not start within {timeout_s} s")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.socket.close()


@dataclass
class BrowserSession:
    context: BrowserContext
    page: Page
    requests: list[str] = field(default_factory=list)
    """Every URL the page asked for."""
    blocked: list[str] = field(default_factory=list)
    """Those that would have left 127.0.0.1 (aborted)."""
    page_errors: list[str] = field(default_factory=list)
    """Uncaught exceptions in the page's script."""
