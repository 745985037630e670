"""The reliability suite's server settings: its API key and limits, shared by its tests and long runs."""

from __future__ import annotations

from typing import Any, Final

API_KEY: Final = "reliability-key-8c41d2"
AUTH: Final = {"Authorization": f"Bearer {API_KEY}"}

CORPUS_LIMITS: Final[dict[str, Any]] = {
    "max_body_bytes": 256 * 1024,
    "max_pixels": 4_000_000,
    "min_side": 16,
}
"""The limits the bad-input corpus's expectations assume; the servers it runs against use them."""

# Small enough that the overload test saturates the worker in a second on two cores.
LIVE_SETTINGS: Final[dict[str, Any]] = {
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
