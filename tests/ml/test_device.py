"""One device choice for training, evaluation and the service: never a silent fallback from CUDA."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ml.__main__ import run
from ml.device import DeviceUnavailableError, resolve_device


@pytest.fixture
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.mark.usefixtures("no_cuda")
def test_auto_and_cpu_take_the_cpu_without_cuda() -> None:
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")


def test_auto_takes_cuda_where_torch_sees_it_and_cpu_stays_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
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
