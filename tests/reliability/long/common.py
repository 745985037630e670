"""What the long runs share: a temporary random-weights file and the server settings of the CI suite."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.live import LiveServer
from tests.reliability.config import LIVE_SETTINGS
from tests.support.weights import write_random_weights


@contextmanager
def live_server(**overrides: Any) -> Iterator[LiveServer]:
    """``python -m service`` with the CI suite's settings (API keys on) and a fresh random-weights file."""
    with tempfile.TemporaryDirectory(prefix="cxr-reliability-") as directory:
        weights = write_random_weights(Path(directory) / "random.safetensors")
        settings = {**LIVE_SETTINGS, "log_level": "INFO", "weights_path": weights, **overrides}
        with LiveServer(settings) as server:
            yield server
