"""Reading and writing the shipped weights as torch modules (training, evaluation, the torch engine).

The format and its checks are :mod:`ml.model.weights_file`'s, which reads the same files without torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file

from ml.model.cnn import PaperCNN, build_model
from ml.model.gate import Gate
from ml.model.int8 import Int8Calibration
from ml.model.weights_file import (
    FORMAT,
    WeightsError,
    WeightsMetadata,
    file_sha256,
    read_header,
    read_weights,
)

__all__ = [
    "FORMAT",
    "LoadedWeights",
    "WeightsError",
    "WeightsMetadata",
    "file_sha256",
    "load_weights",
    "read_header",
    "save_weights",
]


@dataclass
class LoadedWeights:
    model: PaperCNN
    metadata: WeightsMetadata
    sha256: str
    gate: Gate | None = None
    int8: Int8Calibration | None = None


def save_weights(
    path: Path,
    model: torch.nn.Module,
    metadata: WeightsMetadata,
    gate: Gate | None = None,
    int8: Int8Calibration | None = None,
) -> str:
    """Write ``model``'s state dict with ``metadata`` (and the gate and int8 calibration, if any); returns
    the file's sha256."""
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    header = metadata.to_header()
    if gate is not None:
        state.update(gate.to_tensors())
        header["gate"] = gate.config.to_json()
    if int8 is not None:
        header["int8"] = int8.to_json()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=header)
    return file_sha256(path)


def load_weights(path: Path, expected_classes: list[str] | None = None) -> LoadedWeights:
    """Validate and load a weights file (:func:`ml.model.weights_file.read_weights`) as torch modules."""
    read = read_weights(path, expected_classes)
    model = build_model(read.metadata.architecture, num_classes=len(read.metadata.classes))
    model.load_state_dict({name: torch.from_numpy(array) for name, array in read.tensors.items()})
    model.eval()
    gate = None
    if read.gate is not None:
        tensors = {name: torch.from_numpy(array) for name, array in read.gate_tensors.items()}
        try:
            gate = Gate.from_tensors(read.gate, tensors, len(read.metadata.classes))
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise WeightsError(f"invalid input-assessment gate: {exc}") from exc
    return LoadedWeights(model=model, metadata=read.metadata, sha256=read.sha256, gate=gate, int8=read.int8)
