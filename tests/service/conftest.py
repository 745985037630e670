"""Fixtures for the service tests, defined once in tests/support/fixtures.py (the reliability suite uses them
too): a small random-weights file, settings for fast CPU runs, one running app per module, the worker gate."""

from tests.support.fixtures import (
    _fresh_settings_cache,
    _isolated_environment,
    anyio_backend,
    gate,
    make_settings,
    svc,
    weights_path,
)

__all__ = [
    "_fresh_settings_cache",
    "_isolated_environment",
    "anyio_backend",
    "gate",
    "make_settings",
    "svc",
    "weights_path",
]
