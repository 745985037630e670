"""``CXR_WORKERS`` > 1: several server processes on one port, started, serving and stopped together."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import httpx
import pytest

from harness.live import LiveServer
from tests.support.images import png_bytes

pytestmark = pytest.mark.slow

SETTINGS = {"device": "cpu", "workers": 2, "min_side": 16, "api_keys": ["k" * 24]}


def model_pid(server: LiveServer) -> str:
    match = re.search(r'cxr_model_info\{[^}]*pid="(\d+)"', server.metrics_text())
    assert match, "cxr_model_info names no pid"
    return match.group(1)


def test_two_worker_processes_share_the_port_and_stop_together_on_sigterm(weights_path: Path) -> None:
    with LiveServer({**SETTINGS, "weights_path": weights_path}, startup_timeout_s=120) as server:
        # Each connection goes to whichever process accepts it: both answer within a few tries.
        pids = {model_pid(server) for _ in range(40)}
        answer = httpx.post(
            f"{server.url}/predict",
            content=png_bytes(),
            headers={**server.headers, "Content-Type": "image/png"},
            timeout=30,
        )
        server.signal(signal.SIGTERM)
        code = server.wait(60)
        logs = server.json_logs()

    assert len(pids) == 2 and str(server.pid) not in pids
    assert answer.status_code == 200, answer.text
    assert code == 0
    assert sum(r["message"] == "inference worker stopped" for r in logs) == 2
    started = [r for r in logs if r["message"] == "worker processes started"]
    assert started and started[0]["workers"] == 2


def test_a_worker_that_cannot_start_stops_the_service_with_a_failure(tmp_path: Path) -> None:
    missing = tmp_path / "missing.safetensors"
    server = LiveServer({**SETTINGS, "weights_path": missing}, startup_timeout_s=120)
    with pytest.raises(RuntimeError, match="exited with 3"):
        server.start()
    assert "missing.safetensors" in server.output()
    server.stop()
