"""The model definition and its weights format: all the service needs to know about the model."""

from ml.model.cnn import MODELS, PaperCNN, build_model, count_parameters
from ml.model.weights import (
    LoadedWeights,
    WeightsError,
    WeightsMetadata,
    file_sha256,
    load_weights,
    read_header,
    save_weights,
)

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
