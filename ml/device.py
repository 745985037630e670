"""Choosing the torch device, one way for training, evaluation and the service.

``auto`` takes CUDA when torch sees a device, else the CPU. Asking for ``cuda`` where there is none is an
error, never a silent fallback to a CPU that may be a hundred times slower.
"""

from __future__ import annotations

from typing import Final

import torch

CHOICES: Final = ("auto", "cpu", "cuda")


class DeviceUnavailableError(RuntimeError):
    """CUDA was asked for, but torch sees no CUDA device; the message says what to change."""


def resolve_device(requested: str, setting: str = "device") -> torch.device:
    """``requested`` is one of :data:`CHOICES`; ``setting`` names where it came from, for the message."""
    if requested not in CHOICES:
        raise ValueError(f"{setting}={requested!r} is not one of {', '.join(CHOICES)}")
    if requested == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if requested == "cuda":
        raise DeviceUnavailableError(
            f"{setting}=cuda but torch sees no CUDA device; use {setting}=auto or cpu."
        )
    return torch.device("cpu")
