"""Choosing the torch device: asking for CUDA where there is none fails at startup, never falls back."""

from __future__ import annotations

import torch


class StartupError(RuntimeError):
    """The service cannot start as configured; the message says what to change."""


def resolve_device(choice: str) -> torch.device:
    if choice == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if choice == "cuda":
        raise StartupError("CXR_DEVICE=cuda but torch sees no CUDA device; use CXR_DEVICE=auto or cpu.")
    return torch.device("cpu")
