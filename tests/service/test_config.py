"""Configuration from CXR_* variables, failing at startup with a clear message; startup's own checks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from fastapi import FastAPI

from ml.engine import EngineError
from ml.model import WeightsError
from service.__main__ import main
from service.device import StartupError
from service.main import create_app
from service.routes.web import mount_web
from service.settings import Settings, SettingsError, settings_from_env
from service.worker import InferenceWorker
from tests.support.app import serve

pytestmark = pytest.mark.anyio


def test_environment_variables_with_the_prefix_configure_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXR_MAX_BATCH_SIZE", "16")
    monkeypatch.setenv("CXR_DEVICE", "cpu")
    monkeypatch.setenv("CXR_API_KEYS", "alpha-key, beta-key")
    monkeypatch.setenv("CXR_CORS_ORIGINS", '["https://a.example", "https://b.example"]')
    monkeypatch.setenv("CXR_LOG_LEVEL", "debug")

    settings = settings_from_env()

    assert settings.max_batch_size == 16 and settings.device == "cpu"
    assert [key.get_secret_value() for key in settings.api_keys] == ["alpha-key", "beta-key"]
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.log_level == "DEBUG"
    assert "alpha-key" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("CXR_MAX_BATCH_SIZE", "0", "CXR_MAX_BATCH_SIZE='0'"),
        ("CXR_DEVICE", "tpu", "CXR_DEVICE='tpu'"),
        ("CXR_MAX_WAIT_MS", "soon", "CXR_MAX_WAIT_MS='soon'"),
        ("CXR_API_KEYS", '["good-key", " "]', "CXR_API_KEYS=<hidden>"),
    ],
)
def test_an_invalid_value_fails_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, shown: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(SettingsError) as raised:
        settings_from_env()

    assert shown in str(raised.value)
    assert "good-key" not in str(raised.value)


def test_cli_exits_2_with_the_message_on_an_invalid_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CXR_QUEUE_SIZE", "-1")

    assert main(["--port", "9"]) == 2

    assert "CXR_QUEUE_SIZE='-1'" in capsys.readouterr().err


def test_cli_help_shows_the_default_address(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])

    out = capsys.readouterr().out
    assert "default 127.0.0.1" in out and "default 8000" in out


def test_creating_the_app_loads_nothing(tmp_path: Path, make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings(weights_path=tmp_path / "absent.safetensors"))

    assert app.state.worker is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
async def test_asking_for_cuda_without_one_is_a_startup_error(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(StartupError, match="CXR_DEVICE=cuda"):
        async with serve(make_settings(device="cuda")):
            pass


async def test_missing_weights_are_a_startup_error(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    with pytest.raises(WeightsError, match="not found"):
        async with serve(make_settings(weights_path=tmp_path / "absent.safetensors")):
            pass


@pytest.mark.parametrize("error", [EngineError("no session"), RuntimeError("unforeseen")])
async def test_any_startup_failure_is_logged_as_one_before_it_ends_the_lifespan(
    error: Exception,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def fail(*args: object) -> None:
        raise error

    monkeypatch.setattr(InferenceWorker, "load", fail)
    with pytest.raises(type(error)):
        async with serve(make_settings()):
            pass

    failed = [r for r in caplog.records if r.getMessage().startswith("startup failed")]
    assert len(failed) == 1 and str(error) in failed[0].getMessage()
    assert (
        failed[0].levelno == logging.ERROR and getattr(failed[0], "error_type", None) == type(error).__name__
    )


async def test_readyz_is_503_until_the_model_is_loaded(make_settings: Callable[..., Settings]) -> None:
    import httpx

    app = create_app(make_settings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["type"] == "urn:cxr-service:problem:not-ready"
    assert response.headers["retry-after"] == "1"


async def test_cors_allows_only_the_configured_origins(make_settings: Callable[..., Settings]) -> None:
    async with serve(make_settings(cors_origins=["https://viewer.example"])) as svc:
        allowed = await svc.client.get("/healthz", headers={"origin": "https://viewer.example"})
        other = await svc.client.get("/healthz", headers={"origin": "https://evil.example"})

    assert allowed.headers["access-control-allow-origin"] == "https://viewer.example"
    assert "access-control-allow-origin" not in other.headers


async def test_no_cors_headers_by_default(make_settings: Callable[..., Settings]) -> None:
    async with serve(make_settings()) as svc:
        response = await svc.client.get("/healthz", headers={"origin": "https://viewer.example"})

    assert "access-control-allow-origin" not in response.headers


async def test_web_page_is_served_at_the_root_without_a_key_and_outside_the_schema(tmp_path: Path) -> None:
    import httpx

    (tmp_path / "index.html").write_text("<!doctype html><title>cxr</title>")
    (tmp_path / "app.js").write_text("console.log('hi')")
    app = FastAPI()
    mount_web(app, tmp_path)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        page = await client.get("/")
        script = await client.get("/static/app.js")

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert script.status_code == 200 and "console.log" in script.text
    assert "/" not in app.openapi()["paths"]


def test_no_web_routes_without_a_static_directory(tmp_path: Path) -> None:
    app = FastAPI()
    mount_web(app, tmp_path / "absent")

    assert [
        getattr(route, "path", None) for route in app.routes if getattr(route, "path", "") in {"/", "/static"}
    ] == []
