"""Choosing the torch device, one way for training, evaluation and the service.

``auto`` takes CUDA when torch sees a device, else the CPU. Asking for ``cuda`` where there is none is an
error, never a silent fallback to a CPU that may be a hundred times slower. Without torch installed (the
service's plain install) there is only the CPU: ``auto`` means it, and ``cuda`` is an error that names the
extra to install.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import torch

CHOICES: Final = ("auto", "cpu", "cuda")
TORCH_EXTRA: Final = "pip install 'cxr-service[torch]'"
"""How to add torch to an install without it; every message about missing torch says so."""


class DeviceUnavailableError(RuntimeError):
    """CUDA was asked for, but torch sees no CUDA device; the message says what to change."""


def torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


def resolve_device(requested: str, setting: str = "device") -> torch.device:
    """``requested`` is one of :data:`CHOICES`; ``setting`` names where it came from, for the message."""
    import torch

    return torch.device(resolve_device_type(requested, setting))


def resolve_device_type(requested: str, setting: str = "device") -> str:
    """:func:`resolve_device`'s answer as ``"cpu"`` or ``"cuda"``; needs torch only to look for CUDA."""
    if requested not in CHOICES:
        raise ValueError(f"{setting}={requested!r} is not one of {', '.join(CHOICES)}")
    if requested == "cpu":
        return "cpu"
    if not torch_installed():
        if requested == "cuda":
            raise DeviceUnavailableError(
                f"{setting}=cuda needs torch, which is not installed: {TORCH_EXTRA} (with a CUDA build of "
                f"torch), or use {setting}=cpu."
            )
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if requested == "cuda":
        raise DeviceUnavailableError(
            f"{setting}=cuda but torch sees no CUDA device; use {setting}=auto or cpu."
        )
    return "cpu"
