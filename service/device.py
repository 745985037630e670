"""The service's device: :func:`ml.device.resolve_device`, with a missing GPU as a startup error."""

from __future__ import annotations

import torch

from ml import device


class StartupError(RuntimeError):
    """The service cannot start as configured; the message says what to change."""


def resolve_device(choice: str) -> torch.device:
    try:
        return device.resolve_device(choice, setting="CXR_DEVICE")
    except device.DeviceUnavailableError as exc:
        raise StartupError(str(exc)) from None
