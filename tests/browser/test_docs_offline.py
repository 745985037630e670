"""/docs (Swagger UI) and /redoc render in Chromium with every host but the service's blocked: a hospital
network without internet access gets the interactive documentation too.

The service is reached under a host name (mapped to 127.0.0.1 inside Chromium), as on a real network: Swagger
UI treats ``localhost`` and ``127.0.0.1`` specially (no online validator badge), a hospital's host name not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from .harness import CHROMIUM, CHROMIUM_ARGS, why_no_browser

_reason = why_no_browser()
if _reason:
    pytest.skip(_reason, allow_module_level=True)

from playwright.sync_api import Page, Playwright, Route, expect  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

pytestmark = pytest.mark.slow

HOST = "cxr.hospital.test"
TIMEOUT_MS = 30_000
Screenshot = Callable[[Page, str], Path]


@dataclass
class OfflineBrowser:
    context: BrowserContext
    page: Page
    base_url: str
    loaded: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    """Content-Security-Policy violations among them: what the policy stopped, or broke."""


@pytest.fixture
def offline(playwright_instance: Playwright, service_url: str, tmp_path: Path) -> Iterator[OfflineBrowser]:
    """Chromium that reaches the service as ``http://cxr.hospital.test:PORT`` and nothing else."""
    port = urlsplit(service_url).port
    base_url = f"http://{HOST}:{port}"
    context = playwright_instance.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"),
        executable_path=str(CHROMIUM),
        headless=True,
        args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {HOST} 127.0.0.1"],
        viewport={"width": 1280, "height": 900},
    )
    page = context.pages[0] if context.pages else context.new_page()
    browser = OfflineBrowser(context, page, base_url)

    def guard(route: Route) -> None:
        url = route.request.url
        if url.startswith((base_url + "/", "data:", "blob:")):
            browser.loaded.append(url)
            route.continue_()
        else:
            browser.blocked.append(url)
            route.abort()

    context.route("**/*", guard)
    page.on("pageerror", lambda exc: browser.page_errors.append(str(exc)))
    page.on("console", lambda m: browser.console_errors.append(m.text) if m.type == "error" else None)
    try:
        yield browser
    finally:
        context.close()


def test_swagger_ui_renders_every_operation_with_other_hosts_blocked(
    offline: OfflineBrowser, screenshot: Screenshot
) -> None:
    page = offline.page
    page.goto(offline.base_url + "/docs")

    expect(page.locator(".swagger-ui .info .title")).to_contain_text(
        "Chest X-ray classifier", timeout=TIMEOUT_MS
    )
    paths = page.locator(".opblock-summary-path")
    expect(paths.filter(has_text="/predict")).to_have_count(1)
    expect(paths.filter(has_text="/readyz")).to_have_count(1)
    page.wait_for_load_state("networkidle")
    screenshot(page, "docs-swagger-offline")

    assert offline.blocked == []
    assert offline.page_errors == offline.console_errors == []
    assert any(url.endswith("/docs-assets/swagger-ui-bundle.js") for url in offline.loaded)


def test_redoc_renders_the_api_with_other_hosts_blocked(
    offline: OfflineBrowser, screenshot: Screenshot
) -> None:
    page = offline.page
    page.goto(offline.base_url + "/redoc")

    expect(page.get_by_role("heading", level=1)).to_contain_text("Chest X-ray classifier", timeout=TIMEOUT_MS)
    expect(page.get_by_role("heading", name="Classify a chest X-ray", level=2).first).to_be_visible()
    page.wait_for_load_state("networkidle")
    screenshot(page, "docs-redoc-offline")

    assert offline.blocked == []
    assert offline.page_errors == []
    # The policy refuses ReDoc's vendor logo from its CDN before any request is made; nothing else.
    assert all("cdn.redoc.ly" in error for error in offline.console_errors), offline.console_errors
    assert any(url.endswith("/docs-assets/redoc.standalone.js") for url in offline.loaded)
