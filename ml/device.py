"""Choosing the torch device, one way for training, evaluation and the service.

``auto`` takes CUDA when torch sees a device, else the CPU. Asking for ``cuda`` where there is none is an
error, never a silent fallback to a CPU that may be a hundred times slower. Without torch installed (the
service's plain install) there is only the CPU: ``auto`` means it, and ``cuda`` is an error that names the
extra to install.

``auto`` asks the CUDA driver for a GPU before it imports torch (:func:`nvidia_gpu_present`), so that where
there is none a CPU service never loads torch: importing it only to find no CUDA would hold hundreds of
megabytes of memory for the process's whole life (docs/deploy.md#measured).
"""

from __future__ import annotations

import ctypes
import importlib.util
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import torch

CHOICES: Final = ("auto", "cpu", "cuda")
TORCH_EXTRA: Final = "pip install 'cxr-service[torch]'"
"""How to add torch to an install without it; every message about missing torch says so."""


class DeviceUnavailableError(RuntimeError):
    """CUDA was asked for, but torch sees no CUDA device; the message says what to change."""


CUDA_DRIVER: Final = "libcuda.so.1"
"""The CUDA driver's library: the NVIDIA driver installs it, and the container runtime mounts it into a GPU
container; CUDA builds of torch load it too."""


def torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


def nvidia_gpu_present(driver: str = CUDA_DRIVER) -> bool:
    """Whether CUDA can see a GPU from this process, asked of the driver itself, without importing torch.

    No driver library (a CPU machine or container): no GPU, at the cost of a failed library lookup. With
    it, ``cuInit`` and ``cuDeviceGetCount``, which honour ``CUDA_VISIBLE_DEVICES`` as torch does; a driver
    that finds no device, or fails to start, shows none.
    """
    try:
        cuda = ctypes.CDLL(driver)
    except OSError:
        return False
    count = ctypes.c_int(0)
    if cuda.cuInit(0) != 0 or cuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return False
    return count.value > 0


def resolve_device(requested: str, setting: str = "device") -> torch.device:
    """``requested`` is one of :data:`CHOICES`; ``setting`` names where it came from, for the message."""
    import torch

    return torch.device(resolve_device_type(requested, setting))


def resolve_device_type(requested: str, setting: str = "device") -> str:
    """:func:`resolve_device`'s answer as ``"cpu"`` or ``"cuda"``; imports torch only to use a GPU that is
    there, or to look for the one asked for."""
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
    if requested == "auto" and not nvidia_gpu_present():
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if requested == "cuda":
        raise DeviceUnavailableError(
            f"{setting}=cuda but torch sees no CUDA device; use {setting}=auto or cpu."
        )
    return "cpu"
