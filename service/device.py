"""The service's device and engine (:func:`ml.device.resolve_device_type`, :func:`ml.engine.resolve_engine`),
with a missing GPU, engine or torch as a startup error."""

from __future__ import annotations

from ml import device
from ml.engine import EngineError, EngineName
from ml.engine import resolve_engine as choose_engine
from service import cpus


class StartupError(RuntimeError):
    """The service cannot start as configured; the message says what to change."""


def resolve_device(choice: str) -> str:
    """``"cpu"`` or ``"cuda"``; without torch installed only the CPU."""
    try:
        return device.resolve_device_type(choice, setting="CXR_DEVICE")
    except device.DeviceUnavailableError as exc:
        raise StartupError(str(exc)) from None


def resolve_engine(choice: str, on: str, int8_calibrated: bool = False) -> EngineName:
    try:
        return choose_engine(choice, on, int8_calibrated)
    except EngineError as exc:
        raise StartupError(f"CXR_ENGINE={choice}: {exc}") from None


def model_threads(torch_threads: int, workers: int) -> int:
    """Intra-op threads for each process's model; 0 leaves the engine's default (one process)."""
    if torch_threads or workers == 1:
        return torch_threads
    return max(1, cpus.available_cpus() // workers)
