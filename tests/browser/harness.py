"""What the browser tests need besides the shared live server (harness/live.py): Debian's Chromium,
and a wrapper that holds predictions so the page can be seen waiting."""

from __future__ import annotations

import asyncio
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

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
