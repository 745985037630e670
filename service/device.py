"""The service's device and engine (:func:`ml.device.resolve_device`, :func:`ml.engine.resolve_engine`), with
a missing GPU or engine as a startup error."""

from __future__ import annotations

import torch

from ml import device
from ml.engine import EngineError
from ml.engine import resolve_engine as choose_engine
from service import cpus


class StartupError(RuntimeError):
    """The service cannot start as configured; the message says what to change."""


def resolve_device(choice: str) -> torch.device:
    try:
        return device.resolve_device(choice, setting="CXR_DEVICE")
    except device.DeviceUnavailableError as exc:
        raise StartupError(str(exc)) from None


def resolve_engine(choice: str, on: torch.device, int8_calibrated: bool = False) -> str:
    try:
        return choose_engine(choice, on, int8_calibrated)
    except EngineError as exc:
        raise StartupError(f"CXR_ENGINE={choice}: {exc}") from None


def model_threads(torch_threads: int, workers: int) -> int:
    """Intra-op threads for each process's model; 0 leaves the engine's default (one process)."""
    if torch_threads or workers == 1:
        return torch_threads
    return max(1, cpus.available_cpus() // workers)
