"""Export a release weights file: ``python -m ml export --weights RUN/model.safetensors --out FILE``.

The input is a run's ``model.safetensors`` or a training checkpoint (``*.ckpt.safetensors``). The output
is validated by :func:`ml.model.load_weights` before it is written, with the release version stamped in.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

from torch import nn

from ml.classes import CLASSES
from ml.model import WeightsMetadata, build_model, load_weights, read_header, save_weights
from ml.preprocessing import PreprocessSpec

logger = logging.getLogger(__name__)


def _from_checkpoint(path: Path, temperature: float) -> tuple[nn.Module, WeightsMetadata]:
    from ml.checkpoint import load_checkpoint

    header = read_header(path)
    config = json.loads(header["config"])
    model = build_model(config["architecture"], len(CLASSES))
    load_checkpoint(path, model, None, None)
    meta = WeightsMetadata(
        architecture=config["architecture"],
        classes=list(CLASSES),
        preprocessing=PreprocessSpec(),
        temperature=temperature,
        training={"config": config},
    )
    return model, meta


def main(source: Path, out: Path, version: str, name: str | None = None, temperature: float = 1.0) -> str:
    if read_header(source).get("format") == "cxr-checkpoint/1":
        model, metadata = _from_checkpoint(source, temperature)
    else:
        loaded = load_weights(source, expected_classes=list(CLASSES))
        model, metadata = loaded.model, loaded.metadata
    metadata = replace(metadata, version=version, name=name or metadata.name)
    sha = save_weights(out, model, metadata)
    load_weights(out, expected_classes=list(CLASSES))
    logger.info("exported %s (sha256 %s)", out, sha)
    print(f"{out}\tsha256 {sha}")
    return sha
