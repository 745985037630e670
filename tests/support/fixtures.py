"""The fixtures the service and reliability suites share: each suite's conftest star-imports them, which is
how pytest finds them there.

A random-weights file, settings for fast CPU runs, one running app per test module, and the worker gate.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from service.settings import Settings, load_settings, settings_from_env
from tests.support.app import Gate, Service, serve
from tests.support.weights import write_random_weights

__all__ = [
    "_fresh_settings_cache",
    "_isolated_environment",
    "anyio_backend",
    "gate",
    "make_settings",
    "svc",
    "weights_path",
]


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment() -> Iterator[None]:
    """No CXR_* variable of the developer's shell leaks into a test."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("CXR_"):
                patch.delenv(name)
        yield


@pytest.fixture(autouse=True)
def _fresh_settings_cache() -> Iterator[None]:
    settings_from_env.cache_clear()
    yield
    settings_from_env.cache_clear()


@pytest.fixture(scope="session")
def weights_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "random.safetensors"
    return write_random_weights(path, metrics={"test": {"accuracy": 0.33}})


@pytest.fixture(scope="session")
def make_settings(weights_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "weights_path": weights_path,
            "device": "cpu",
            "max_batch_size": 4,
            "max_wait_ms": 2.0,
            "queue_size": 8,
            "request_timeout_s": 10.0,
            "min_side": 16,
            "overlay_max_side": 96,
            "drain_timeout_s": 5.0,
        }
        values.update(overrides)
        return load_settings(**values)

    return make


@pytest.fixture(scope="module")
async def svc(make_settings: Callable[..., Settings]) -> AsyncIterator[Service]:
    """One running app per test module (startup is the slow part); tests must not depend on fresh counters."""
    async with serve(make_settings()) as running:
        yield running


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    held = Gate(monkeypatch)
    yield held
    held.release()
