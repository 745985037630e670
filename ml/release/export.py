"""Export a release weights file: ``python -m ml export --weights RUN/model.safetensors --out FILE``.

The input is a run's ``model.safetensors``, a released file or a training checkpoint
(``*.ckpt.safetensors``). With ``--data`` (and the run's ``--split``), export also fits the file's input
assessment (:mod:`ml.gate.fit`) and its source-shift monitor (:mod:`ml.gate.monitor`), so every model
carries a gate fitted to itself. Without it, a gate already
in the input is kept; a file with none is served with every answer marked uncertain (``gate_unavailable``).
With ``--int8 DATA`` (and ``--split``) it also calibrates the CPU engine's int8 model
(:mod:`ml.release.int8`);
without it, an input's calibration is kept only if the classifier is the same (not from a checkpoint).
The output is validated by :func:`ml.model.load_weights` after it is written, with the version stamped in.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

from ml.classes import CLASSES
from ml.gate.train_scope import ScopeTrainConfig
from ml.model import (
    LoadedWeights,
    PaperCNN,
    WeightsMetadata,
    build_model,
    load_weights,
    read_header,
    save_weights,
)
from ml.model.gate import Gate
from ml.model.int8 import Int8Calibration
from ml.preprocessing import PreprocessSpec
from ml.training.checkpoint import is_checkpoint

logger = logging.getLogger(__name__)


def _from_checkpoint(path: Path, temperature: float) -> tuple[PaperCNN, WeightsMetadata]:
    from ml.training.checkpoint import load_checkpoint

    header = read_header(path)
    config = json.loads(header["config"])
    model = build_model(config["architecture"], len(CLASSES))
    load_checkpoint(path, model, None, None)
    meta = WeightsMetadata(
        architecture=config["architecture"],
        classes=list(CLASSES),
        preprocessing=PreprocessSpec(
            resize=config.get("resize", 256),
            crop=config.get("crop", 224),
            standardize=config.get("standardize", "none"),
        ),
        temperature=temperature,
        training={"config": config},
    )
    return model, meta


@dataclass(frozen=True)
class GateSource:
    """Where the exported file's input assessment comes from."""

    data: Path | None = None
    """The dataset to fit a new gate on; None keeps the input's gate, if it has one."""
    split: Path | None = None
    scope_from: Path | None = None
    """A weights file whose scope classifier is reused instead of training one."""
    scope_epochs: int = ScopeTrainConfig.epochs
    scope_per_kind: int = ScopeTrainConfig.per_maker
    """Training examples of each negative kind (frontal X-rays: three times as many)."""


def main(
    source: Path,
    out: Path,
    version: str,
    name: str | None = None,
    temperature: float = 1.0,
    gate_source: GateSource | None = None,
    int8_data: tuple[Path, Path] | None = None,
) -> str:
    """``int8_data``: (dataset, split) to calibrate int8 on."""
    gate_source = gate_source or GateSource()
    gate: Gate | None = None
    int8: Int8Calibration | None = None
    if is_checkpoint(read_header(source)):
        model, metadata = _from_checkpoint(source, temperature)
    else:
        loaded = load_weights(source, expected_classes=list(CLASSES))
        model, metadata, gate, int8 = loaded.model, loaded.metadata, loaded.gate, loaded.int8
    metadata = replace(metadata, version=version, name=name or metadata.name)
    if gate_source.data is not None:
        gate = _fit_gate(LoadedWeights(model, metadata, ""), gate_source)
    elif gate is None:
        logger.warning("%s carries no input assessment; pass --data to fit one", out.name)
    if int8_data is not None:
        from ml.release.int8 import calibrate_on

        int8 = calibrate_on(model, metadata.preprocessing, *int8_data)
    sha = save_weights(out, model, metadata, gate, int8)
    load_weights(out, expected_classes=list(CLASSES))
    logger.info("exported %s (sha256 %s)", out, sha)
    print(f"{out}\tsha256 {sha}")
    return sha


def _fit_gate(weights: LoadedWeights, source: GateSource) -> Gate:
    """The input assessment fitted to ``weights``, with its source-shift monitor where the validation side
    holds enough images for one."""
    from ml.gate.fit import fit_gate
    from ml.gate.monitor import TooFewReferenceAnswersError, with_monitor

    assert source.data is not None
    scope = None
    if source.scope_from is not None:
        donor = load_weights(source.scope_from).gate
        if donor is None:
            raise SystemExit(f"--scope-from {source.scope_from} carries no gate")
        scope = donor.scope
    config = ScopeTrainConfig(epochs=source.scope_epochs, per_maker=source.scope_per_kind)
    gate = fit_gate(weights, source.data, source.split, config, scope_from=scope).gate
    try:
        return with_monitor(replace(weights, gate=gate), source.data, source.split)
    except TooFewReferenceAnswersError as exc:
        logger.warning("the file carries no source-shift monitor: %s", exc)
        return gate
