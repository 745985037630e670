"""The command line and the feature cache of a measurement of a gated weights file on validation and
external-dev (:mod:`ml.studies.flag_candidates`, the class floors and their kin)."""

from __future__ import annotations

import argparse
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ml.model import LoadedWeights, load_weights


def measurement_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """The options every measurement of a gated weights file on validation and external-dev takes."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--weights", type=Path, default=Path("weights/cxr-paper-cnn.safetensors"))
    parser.add_argument("--data", type=Path, default=Path("../shared/data/covid-radiography"))
    parser.add_argument("--split", type=Path, default=Path("weights/validation/split.csv"))
    parser.add_argument("--external", type=Path, default=Path("../shared/data/external-dev"))
    parser.add_argument("--cache", type=Path, help="keep the classifier's features here, per classifier")
    parser.add_argument("--out", type=Path)
    return parser


def load_gated(path: Path) -> LoadedWeights:
    """``path``'s weights, with logging set up; exits when they carry no gate to measure."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    weights = load_weights(path)
    if weights.gate is None:
        raise SystemExit(f"{path} carries no gate")
    return weights


def model_digest(weights: LoadedWeights) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(weights.model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def cached_arrays(
    weights: LoadedWeights, cache: Path | None, name: str, compute: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """``compute()``, kept in ``cache`` as ``name``, per classifier (None: always computed)."""
    path = cache / f"{name}-{model_digest(weights)}.npz" if cache else None
    if path is not None and path.is_file():
        with np.load(path) as data:
            return dict(data)
    arrays = compute()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **arrays)  # type: ignore[arg-type]
    return arrays
