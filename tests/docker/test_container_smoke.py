"""The container smoke test: docker/ci-smoke.sh builds the CPU image, runs it, waits for /readyz and calls it.

Opt-in because it builds the image (about a minute with a warm layer cache, a few on a new machine):
CXR_DOCKER_SMOKE=1 (set by CI) runs it where an engine answers or can be started, and skips elsewhere;
CXR_DOCKER_SMOKE=require fails instead of skipping.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODE = os.environ.get("CXR_DOCKER_SMOKE", "")
SKIPPED = 77  # ci-smoke.sh: no engine here and none can be started


@pytest.mark.slow
@pytest.mark.skipif(
    MODE not in {"1", "require"},
    reason="container smoke test is opt-in: set CXR_DOCKER_SMOKE=1 (CI sets it)",
)
def test_cpu_image_builds_starts_and_predicts() -> None:
    command = ["bash", str(ROOT / "docker" / "ci-smoke.sh")]
    if MODE == "require":
        command.append("--require-engine")
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False)
    log = [line for line in result.stderr.splitlines() if line.startswith("ci-smoke:")]
    if result.returncode == SKIPPED:
        pytest.skip(log[-1] if log else "no Docker engine")
    assert result.returncode == 0, "\n".join(result.stderr.splitlines()[-40:])
    print("\n".join(log))
