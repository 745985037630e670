"""The torch-free layouts name the torch modules' tensors, and the torch-free reader refuses what the
torch loader refuses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from ml.model import MODELS, WeightsError, build_model, load_weights
from ml.model.layout import SCOPE_WIDTHS, classifier_layout, scope_layout
from ml.model.scope import ScopeNet
from ml.model.weights_file import read_weights
from tests.support.weights import write_random_weights


@pytest.mark.parametrize("architecture", sorted(MODELS))
def test_the_classifier_layout_has_the_modules_tensors_and_shapes(architecture: str) -> None:
    model = build_model(architecture, num_classes=3)
    layout = classifier_layout(architecture, 3)

    assert layout.shapes() == {k: tuple(v.shape) for k, v in model.state_dict().items()}
    taps: list[torch.Tensor] = []
    model.eval().features(torch.zeros(1, 3, 32, 32), taps)
    assert layout.blocks == model.blocks == len(taps)


def test_the_scope_layout_has_the_scope_classifiers_tensors_and_shapes() -> None:
    state = ScopeNet(SCOPE_WIDTHS).state_dict()

    assert scope_layout(SCOPE_WIDTHS).shapes() == {k: tuple(v.shape) for k, v in state.items()}


def test_the_numpy_reader_gives_the_tensors_the_torch_loader_gives(tmp_path: Path) -> None:
    path = write_random_weights(tmp_path / "w.safetensors")

    read, loaded = read_weights(path), load_weights(path)

    assert read.sha256 == loaded.sha256 and read.metadata == loaded.metadata
    for name, tensor in loaded.model.state_dict().items():
        assert np.array_equal(read.tensors[name], tensor.numpy())
    assert read.gate is not None and loaded.gate is not None and read.gate == loaded.gate.config


def tamper(path: Path, name: str, value: np.ndarray) -> None:
    from safetensors import safe_open

    with safe_open(str(path), "np") as fh:
        metadata = fh.metadata()
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open is no dict)
    tensors[name] = value
    save_file(tensors, str(path), metadata=metadata)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("body.0.weight", np.zeros((32, 3, 5, 5), np.float32), "has shape"),
        ("fc2.bias", np.array([np.nan, 0, 0], np.float32), "non-finite"),
        ("body.99.weight", np.zeros(3, np.float32), "unexpected"),
    ],
)
def test_both_readers_refuse_a_damaged_file_for_the_same_reason(
    tmp_path: Path, name: str, value: np.ndarray, message: str
) -> None:
    path = write_random_weights(tmp_path / "w.safetensors")
    tamper(path, name, value)

    with pytest.raises(WeightsError, match=message):
        read_weights(path)
    with pytest.raises(WeightsError, match=message):
        load_weights(path)
