"""The model definition and its weights format: all the service needs to know about the model.

Importing this package loads no torch: the torch modules (:class:`PaperCNN`, :func:`load_weights`, ...)
are imported on first use, so the torch-free service can use :mod:`ml.model.weights_file`,
:mod:`ml.model.layout` and :mod:`ml.model.checks` without torch installed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ml.model.weights_file import WeightsError, WeightsMetadata, file_sha256, read_header

if TYPE_CHECKING:
    from ml.model.cnn import MODELS, PaperCNN, build_model, count_parameters
    from ml.model.weights import LoadedWeights, load_weights, save_weights

_TORCH_NAMES = {
    "MODELS": "ml.model.cnn",
    "PaperCNN": "ml.model.cnn",
    "build_model": "ml.model.cnn",
    "count_parameters": "ml.model.cnn",
    "LoadedWeights": "ml.model.weights",
    "load_weights": "ml.model.weights",
    "save_weights": "ml.model.weights",
}

__all__ = [
    "MODELS",
    "LoadedWeights",
    "PaperCNN",
    "WeightsError",
    "WeightsMetadata",
    "build_model",
    "count_parameters",
    "file_sha256",
    "load_weights",
    "read_header",
    "save_weights",
]


def __getattr__(name: str) -> Any:
    module = _TORCH_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
