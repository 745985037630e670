"""Fixtures for the reliability suite: the shared service fixtures (tests/support/fixtures.py), plus the
real server in a subprocess, and the figures the tests measured in pytest's terminal summary."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.live import LiveServer
from tests.support.fixtures import *  # noqa: F403 - pytest finds fixtures by name in a conftest

from .config import LIVE_SETTINGS
from .figures import FIGURES


@pytest.fixture(scope="session")
def live_server(weights_path: Path) -> Iterator[LiveServer]:
    """``python -m service`` with API keys on and DEBUG logs, shared by the tests that need a real socket."""
    with LiveServer({**LIVE_SETTINGS, "weights_path": weights_path}) as server:
        yield server


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("reliability figures")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")
