"""One device choice for training, evaluation and the service: never a silent fallback from CUDA."""

from __future__ import annotations

import ctypes
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import ml.device
from ml.__main__ import run
from ml.device import DeviceUnavailableError, nvidia_gpu_present, resolve_device

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.mark.usefixtures("no_cuda")
def test_auto_and_cpu_take_the_cpu_without_cuda() -> None:
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")


def test_auto_takes_cuda_where_torch_sees_it_and_cpu_stays_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ml.device, "nvidia_gpu_present", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)

    assert resolve_device("auto").type == "cuda"
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.usefixtures("no_cuda")
def test_asking_for_cuda_without_one_is_an_error_naming_the_setting() -> None:
    with pytest.raises(DeviceUnavailableError, match=r"^CXR_DEVICE=cuda .* use CXR_DEVICE=auto or cpu\.$"):
        resolve_device("cuda", setting="CXR_DEVICE")


def test_an_unknown_choice_is_refused() -> None:
    with pytest.raises(ValueError, match="'gpu'"):
        resolve_device("gpu")


@pytest.mark.usefixtures("no_cuda")
def test_the_command_line_exits_with_the_message_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="--device=cuda but torch sees no CUDA device"):
        run(["train", "--data", str(tmp_path), "--out", str(tmp_path / "out"), "--device", "cuda"])


class FakeDriver:
    """libcuda's two entry points the probe calls: ``cuInit``'s result and the device count."""

    def __init__(self, init_result: int, devices: int) -> None:
        self.init_result = init_result
        self.devices = devices

    def cuInit(self, flags: int) -> int:  # noqa: N802 - the driver's own name
        return self.init_result

    def cuDeviceGetCount(self, count: Any) -> int:  # noqa: N802
        count._obj.value = self.devices
        return 0


@pytest.mark.parametrize(
    ("driver", "present"),
    [(FakeDriver(0, 2), True), (FakeDriver(0, 0), False), (FakeDriver(100, 1), False)],
    ids=["two-devices", "no-device", "init-fails-no-device"],
)
def test_the_gpu_probe_asks_the_cuda_driver_for_its_devices(
    monkeypatch: pytest.MonkeyPatch, driver: FakeDriver, present: bool
) -> None:
    monkeypatch.setattr(ctypes, "CDLL", lambda name: driver)

    assert nvidia_gpu_present() is present


def test_without_the_cuda_driver_library_there_is_no_gpu() -> None:
    assert nvidia_gpu_present("libcuda-not-installed.so.1") is False


def test_auto_without_a_gpu_takes_the_cpu_without_importing_torch() -> None:
    code = (
        "import sys, ml.device; "
        "ml.device.nvidia_gpu_present = lambda: False; "
        "print(ml.device.resolve_device_type('auto'), 'torch' in sys.modules)"
    )

    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    )

    assert done.stdout.split() == ["cpu", "False"]
