"""The weights file's format, read without torch: its metadata, and its tensors as numpy arrays.

safetensors plus JSON metadata; nothing is ever unpickled. The metadata records everything needed to use
the file without the training code: the classes in output order, the architecture, the preprocessing, the
temperature, the version, the training configuration, the data manifest's hash and the validation metrics.
A file may also carry its input assessment (the ``gate`` header and the ``gate.*`` tensors) and an int8
calibration for the CPU engine (the ``int8`` header, :mod:`ml.model.int8`).

:func:`read_weights` checks a file against its architecture's layout (:mod:`ml.model.layout`), so that the
torch-free service and :func:`ml.model.weights.load_weights` (which builds the torch module) refuse the
same files for the same reasons.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file

from ml.model.assessment import DISTANCE_PREFIX, TENSOR_PREFIX, GateConfig, distance_layers
from ml.model.int8 import Int8Calibration
from ml.model.layout import BATCH_NORM, Layout, classifier_layout
from ml.model.monitor import MONITOR_PREFIX, Familiarity
from ml.preprocess_spec import PreprocessSpec

FORMAT = "cxr-weights/1"


class WeightsError(ValueError):
    """The weights file is missing, unreadable or does not match the architecture it names."""


@dataclass
class WeightsMetadata:
    architecture: str
    classes: list[str]
    preprocessing: PreprocessSpec = field(default_factory=PreprocessSpec)
    temperature: float = 1.0
    version: str = "0.0.0"
    name: str = "paper-cnn"
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    data_manifest_sha256: str = ""

    def to_header(self) -> dict[str, str]:
        """safetensors metadata is ``str -> str``; nested values are stored as JSON."""
        return {
            "format": FORMAT,
            "architecture": self.architecture,
            "name": self.name,
            "version": self.version,
            "classes": json.dumps(self.classes),
            "preprocessing": json.dumps(self.preprocessing.to_dict()),
            "temperature": repr(float(self.temperature)),
            "training": json.dumps(self.training),
            "metrics": json.dumps(self.metrics),
            "data_manifest_sha256": self.data_manifest_sha256,
        }

    @classmethod
    def from_header(cls, header: dict[str, str]) -> WeightsMetadata:
        if header.get("format") != FORMAT:
            raise WeightsError(f"not a {FORMAT} file (format={header.get('format')!r})")
        try:
            temperature = float(header.get("temperature", "1.0"))
            meta = cls(
                architecture=header["architecture"],
                classes=list(json.loads(header["classes"])),
                preprocessing=PreprocessSpec.from_dict(json.loads(header["preprocessing"])),
                temperature=temperature,
                version=header.get("version", "0.0.0"),
                name=header.get("name", "paper-cnn"),
                training=json.loads(header.get("training", "{}")),
                metrics=json.loads(header.get("metrics", "{}")),
                data_manifest_sha256=header.get("data_manifest_sha256", ""),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise WeightsError(f"invalid metadata: {exc}") from exc
        if not temperature > 0:
            raise WeightsError(f"temperature must be positive, got {temperature}")
        return meta


@dataclass
class WeightsFile:
    """A checked weights file, as numpy arrays: what the torch-free service serves."""

    metadata: WeightsMetadata
    sha256: str
    layout: Layout
    tensors: dict[str, np.ndarray]
    """The classifier's state dict."""
    gate: GateConfig | None = None
    gate_tensors: dict[str, np.ndarray] = field(default_factory=dict)
    """The ``gate.*`` tensors, with their prefix."""
    int8: Int8Calibration | None = None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_header(path: Path) -> dict[str, str]:
    """The metadata of a safetensors file, read without loading any tensor."""
    try:
        with path.open("rb") as fh:
            size = int.from_bytes(fh.read(8), "little")
            if not 0 < size < 100_000_000:
                raise WeightsError(f"{path.name}: not a safetensors file")
            header = json.loads(fh.read(size))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WeightsError(f"{path.name}: cannot read header: {exc}") from exc
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict):
        raise WeightsError(f"{path.name}: no metadata; was it written by `ml export`?")
    return {str(k): str(v) for k, v in meta.items()}


def read_weights(path: Path, expected_classes: list[str] | None = None) -> WeightsFile:
    """Validate and read a weights file: format, architecture, class list, tensor names, shapes, values."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    header = read_header(path)
    metadata = WeightsMetadata.from_header(header)
    if metadata.architecture not in BATCH_NORM:
        raise WeightsError(f"unknown architecture {metadata.architecture!r}; known: {sorted(BATCH_NORM)}")
    if expected_classes is not None and metadata.classes != list(expected_classes):
        raise WeightsError(
            f"class list {metadata.classes} differs from the expected {list(expected_classes)}"
        )
    if len(metadata.classes) < 2 or len(set(metadata.classes)) != len(metadata.classes):
        raise WeightsError(f"invalid class list {metadata.classes}")
    layout = classifier_layout(metadata.architecture, len(metadata.classes))
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise WeightsError(f"{path.name}: cannot read tensors: {exc}") from exc
    gate_tensors = {k: tensors.pop(k) for k in [k for k in tensors if k.startswith(TENSOR_PREFIX)]}
    gate = _gate_config(header.get("gate"), gate_tensors, layout.blocks, len(metadata.classes))
    floors = gate.thresholds.min_class_confidence if gate is not None else ()
    if floors and len(floors) != len(metadata.classes):
        raise WeightsError(
            f"the gate has {len(floors)} class confidence floors for {len(metadata.classes)} classes"
        )
    int8 = _int8(header.get("int8"))
    expected = layout.shapes()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise WeightsError(
            f"tensor names do not match {metadata.architecture}: missing {missing}, unexpected {unexpected}"
        )
    for name, tensor in tensors.items():
        if tensor.shape != expected[name]:
            raise WeightsError(f"tensor {name} has shape {tensor.shape}, expected {expected[name]}")
        if not np.isfinite(tensor).all():
            raise WeightsError(f"tensor {name} holds non-finite values")
    if int8 is not None and len(int8.activation_max) != len(layout.convs):
        raise WeightsError(
            f"the int8 calibration covers {len(int8.activation_max)} of {len(layout.convs)} convolutions"
        )
    return WeightsFile(metadata, file_sha256(path), layout, tensors, gate, gate_tensors, int8)


def _gate_config(
    config: str | None, tensors: dict[str, np.ndarray], blocks: int, classes: int
) -> GateConfig | None:
    """``blocks``: the classifier's, each of which the gate's feature distance measures."""
    if config is None:
        if tensors:
            raise WeightsError("gate tensors without a gate header")
        return None
    try:
        parsed = GateConfig.from_json(config)
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"invalid input-assessment gate: {exc}") from exc
    layers = distance_layers(tensors)
    if layers != blocks:
        raise WeightsError(
            f"the input-assessment gate measures {layers} feature layers, the model has {blocks}"
        )
    names = [f"{DISTANCE_PREFIX}layer{i}.{part}" for i in range(layers) for part in ("means", "precision")]
    missing = sorted({*names, f"{DISTANCE_PREFIX}reference"} - set(tensors))
    if missing:
        raise WeightsError(f"invalid input-assessment gate: missing {missing}")
    if not all(np.isfinite(t).all() for t in tensors.values()):
        raise WeightsError("the gate holds non-finite values")
    monitor_tensors = {k: v for k, v in tensors.items() if k.startswith(MONITOR_PREFIX)}
    if parsed.monitor is None and monitor_tensors:
        raise WeightsError("source-shift monitor tensors without a monitor configuration")
    if parsed.monitor is not None:
        try:
            Familiarity.from_arrays(monitor_tensors, classes)
        except (KeyError, ValueError) as exc:
            raise WeightsError(f"invalid source-shift monitor reference: {exc}") from exc
    return parsed


def _int8(text: str | None) -> Int8Calibration | None:
    if text is None:
        return None
    try:
        return Int8Calibration.from_json(text)
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"invalid int8 calibration: {exc}") from exc
