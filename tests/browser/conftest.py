"""Fixtures for the browser tests: the real service with random weights, and a fresh Chromium per test.

The service runs in-process (uvicorn in a background thread) with a random-weights file written to a
temporary directory. Its random input-assessment gate trusts every image; two more services carry gates
that reject every image (out of scope) or doubt every answer (uncertain). Chromium is Debian's, driven
by Playwright for Python; the tests skip, saying why, when either is missing (see ``test_web_page.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.threaded import ThreadServer
from ml.classes import CLASSES
from ml.model import WeightsMetadata, build_model, save_weights
from ml.model.gate import Thresholds
from service.settings import load_settings
from tests.support.gate import DOUBTING, REJECTING, TRUSTING, random_gate

from .harness import API_KEY, CHROMIUM, CHROMIUM_ARGS, SCREENSHOT_DIR, BrowserSession, HeldPredictions

if TYPE_CHECKING:
    from playwright.sync_api import Page, Playwright, Route


def _weights(tmp_path_factory: pytest.TempPathFactory, thresholds: Thresholds) -> Path:
    path = tmp_path_factory.mktemp("weights") / "random.safetensors"
    save_weights(
        path,
        build_model("paper_cnn"),
        WeightsMetadata(architecture="paper_cnn", classes=list(CLASSES)),
        random_gate(thresholds),
    )
    return path


@pytest.fixture(scope="package")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _weights(tmp_path_factory, TRUSTING)


def _serve(weights: Path, api_keys: list[str], hold_predictions_s: float = 0.0) -> Iterator[str]:
    settings = load_settings(
        weights_path=weights, api_keys=api_keys, device="cpu", torch_threads=2, log_level="WARNING"
    )
    wrap = (lambda app: HeldPredictions(app, hold_predictions_s)) if hold_predictions_s else None
    with ThreadServer(settings, wrap=wrap) as service:
        yield service.url


@pytest.fixture(scope="package")
def service_url(weights_file: Path) -> Iterator[str]:
    """The service without API keys."""
    yield from _serve(weights_file, [])


@pytest.fixture(scope="package")
def keyed_service_url(weights_file: Path) -> Iterator[str]:
    """The service with one API key, ``harness.API_KEY``."""
    yield from _serve(weights_file, [API_KEY])


@pytest.fixture(scope="package")
def slow_service_url(weights_file: Path) -> Iterator[str]:
    """The service holding each prediction 2.5 s before it starts, to see the page while it waits."""
    yield from _serve(weights_file, [], hold_predictions_s=2.5)


@pytest.fixture(scope="package")
def rejecting_service_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service whose gate finds no image a frontal chest X-ray: every answer is out of scope."""
    yield from _serve(_weights(tmp_path_factory, REJECTING), [])


@pytest.fixture(scope="package")
def doubting_service_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service whose gate finds every answer's confidence too low: every answer is uncertain."""
    yield from _serve(_weights(tmp_path_factory, DOUBTING), [])


@pytest.fixture(scope="package")
def playwright_instance() -> Iterator[Playwright]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture
def browser(playwright_instance: Playwright, tmp_path: Path) -> Iterator[BrowserSession]:
    """Debian's Chromium with a fresh profile; a request to anywhere but 127.0.0.1 is aborted and recorded."""
    context = playwright_instance.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        accept_downloads=True,
        viewport={"width": 1280, "height": 900},
        locale="en-GB",
    )
    page = context.pages[0] if context.pages else context.new_page()
    session = BrowserSession(context=context, page=page)

    def guard(route: Route) -> None:
        url = route.request.url
        session.requests.append(url)
        if url.startswith(("http://127.0.0.1:", "blob:", "data:")):
            route.continue_()
        else:
            session.blocked.append(url)
            route.abort()

    context.route("**/*", guard)
    page.on("pageerror", lambda exc: session.page_errors.append(str(exc)))
    try:
        yield session
    finally:
        context.close()
    assert not session.page_errors, f"uncaught errors in the page: {session.page_errors}"


@pytest.fixture
def screenshot() -> Callable[[Page, str], Path]:
    """Save a full-page screenshot as ``artifacts/screenshots/<name>.png`` (gitignored); return its path."""

    def take(page: Page, name: str) -> Path:
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOT_DIR / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
