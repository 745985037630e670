from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from ml.classes import CLASSES
from ml.model import WeightsError, WeightsMetadata, build_model, load_weights, save_weights


def _save(path: Path, classes: list[str] | None = None, temperature: float = 1.5) -> None:
    meta = WeightsMetadata(
        architecture="paper_cnn",
        classes=classes or list(CLASSES),
        temperature=temperature,
        metrics={"validation": {"accuracy": 0.5}},
    )
    save_weights(path, build_model("paper_cnn"), meta)


def test_weights_round_trip_with_their_metadata(tmp_path: Path) -> None:
    _save(tmp_path / "w.safetensors")
    loaded = load_weights(tmp_path / "w.safetensors", expected_classes=list(CLASSES))
    assert loaded.metadata.classes == list(CLASSES)
    assert loaded.metadata.temperature == 1.5
    assert loaded.metadata.metrics["validation"]["accuracy"] == 0.5
    assert len(loaded.sha256) == 64
    assert not loaded.model.training


def test_a_tensor_of_the_wrong_shape_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    _save(path)
    state = {k: v.clone() for k, v in build_model("paper_cnn").state_dict().items()}
    state["fc2.weight"] = torch.zeros(4, 10)
    header = WeightsMetadata(architecture="paper_cnn", classes=list(CLASSES)).to_header()
    save_file(state, str(path), metadata=header)
    with pytest.raises(WeightsError, match=r"fc2\.weight"):
        load_weights(path)


def test_a_different_class_list_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    _save(path, classes=["Normal", "COVID", "Viral Pneumonia"])
    with pytest.raises(WeightsError, match="class list"):
        load_weights(path, expected_classes=list(CLASSES))


def test_missing_tensors_and_other_architectures_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    header = WeightsMetadata(architecture="paper_cnn_bn", classes=list(CLASSES)).to_header()
    save_file(dict(build_model("paper_cnn").state_dict()), str(path), metadata=header)
    with pytest.raises(WeightsError, match="missing"):
        load_weights(path)


@pytest.mark.parametrize("content", [b"", b"\x80\x04K\x01.", b"x" * 100])
def test_files_that_are_not_safetensors_are_rejected_without_unpickling(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "w.safetensors"
    path.write_bytes(content)
    with pytest.raises(WeightsError):
        load_weights(path)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="not found"):
        load_weights(tmp_path / "absent.safetensors")
