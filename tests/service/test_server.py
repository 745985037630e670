"""``python -m service`` end to end: a real uvicorn process, JSON logs, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from service.ports import PortUnavailableError, bind_port
from tests.support.images import multipart, png_bytes

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow
def test_python_m_service_serves_predictions_and_stops_cleanly_on_sigterm(weights_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "CXR_WEIGHTS_PATH": str(weights_path), "CXR_DEVICE": "cpu", "CXR_MIN_SIDE": "16"}
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, process.communicate()
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.1)

        response = httpx.post(f"{base}/predict", files=multipart(png_bytes()), timeout=30)
        assert response.status_code == 200
        assert response.json()["gradcam"]["overlay_png_base64"]

        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    # uvicorn re-raises the signal it handled once it has shut down, so the exit reports SIGTERM.
    assert process.returncode in (0, -signal.SIGTERM), err
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    messages = [line["message"] for line in lines]
    loaded = next(line for line in lines if line["message"] == "model loaded")
    assert loaded["device"] == "cpu" and len(loaded["sha256"]) == 64 and loaded["load_s"] > 0
    access = [
        line for line in lines if line["logger"] == "service.access" and line.get("route") == "/predict"
    ]
    assert [(a["status"], a["request_id"]) for a in access] == [(200, response.headers["x-request-id"])]
    assert "draining the inference queue" in messages
    assert "inference worker stopped" in messages


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_port_in_use_stops_python_m_service_before_the_model_loads_naming_the_setting(
    tmp_path: Path, workers: str
) -> None:
    absent = tmp_path / "absent.safetensors"
    env = {**os.environ, "CXR_WEIGHTS_PATH": str(absent), "CXR_WORKERS": workers}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        done = subprocess.run(
            [sys.executable, "-m", "service", "--port", str(port)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert done.returncode == 2, done.stderr
    assert f"cannot serve on 127.0.0.1:{port}: the port is already in use" in done.stderr
    assert "--port, CXR_PORT or `make serve PORT=...`" in done.stderr
    # Nothing was loaded: the missing weights file would have been the error otherwise.
    assert absent.name not in done.stdout + done.stderr


def test_an_address_that_cannot_be_bound_names_the_host_setting() -> None:
    # 192.0.2.1 is reserved for documentation: no interface of this machine has it.
    with pytest.raises(PortUnavailableError, match=r"^cannot serve on 192\.0\.2\.1:8000: .*CXR_HOST"):
        bind_port("192.0.2.1", 8000)
