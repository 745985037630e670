"""Fixtures for the reliability suite: the service tests' fixtures, plus the real server in a subprocess.

The random-weights file, the fast CPU settings and the worker gate are the service tests' own
(``tests/service/conftest.py``), imported so that pytest registers them here too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service import conftest as service_conftest

from .corpus import CORPUS_LIMITS
from .figures import FIGURES
from .live import API_KEY, LiveServer

# The service tests' fixtures, registered here by name.
_isolated_environment = service_conftest._isolated_environment
_fresh_settings_cache = service_conftest._fresh_settings_cache
anyio_backend = service_conftest.anyio_backend
weights_path = service_conftest.weights_path
make_settings = service_conftest.make_settings
gate = service_conftest.gate

# Small enough that the overload test saturates the worker in a second on two cores.
LIVE_SETTINGS = {
    "device": "cpu",
    "api_keys": [API_KEY],
    "max_batch_size": 4,
    "max_wait_ms": 2.0,
    "queue_size": 8,
    "request_timeout_s": 30.0,
    "overlay_max_side": 96,
    "torch_threads": 1,
    "drain_timeout_s": 10.0,
    "log_level": "DEBUG",
    **CORPUS_LIMITS,
}


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
