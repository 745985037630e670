"""Fixtures for the service tests: a small random-weights file, settings for fast CPU runs, the app."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from ml.classes import CLASSES
from ml.model import PaperCNN, WeightsMetadata, build_model, save_weights
from ml.preprocessing import PreprocessSpec
from service.settings import Settings, load_settings, settings_from_env

from .harness import Gate, Service, serve

# Small input (resize 72, crop 64) so a forward pass takes milliseconds; crop < resize exercises the crop.
TEST_SPEC = PreprocessSpec(resize=72, crop=64)
TEST_TEMPERATURE = 1.5


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


def random_model(seed: int = 0) -> PaperCNN:
    torch.manual_seed(seed)
    model = build_model("paper_cnn", num_classes=len(CLASSES))
    # He initialisation keeps activations alive through eight ReLU layers, so outputs depend on the input.
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    return model.eval()


def write_random_weights(path: Path, metrics: dict[str, Any] | None = None) -> Path:
    """The small random network and test preprocessing, as a weights file (also used outside pytest)."""
    metadata = WeightsMetadata(
        architecture="paper_cnn",
        classes=list(CLASSES),
        preprocessing=TEST_SPEC,
        temperature=TEST_TEMPERATURE,
        version="0.0.1-test",
        name="random-test-cnn",
        metrics=metrics or {},
    )
    save_weights(path, random_model(), metadata)
    return path


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
