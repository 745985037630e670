"""One film as the service answers it, without the service: the same decoder and limits, preprocessing,
engine, calibration and input assessment.

Each step is the one :mod:`service.pipeline` and :mod:`service.runner` take with the default settings:
the kind sniffed from the bytes among PNG, JPEG and DICOM (:data:`ml.decoding.SERVED_KINDS`), the default
pixel and side limits (:data:`ml.decoding.SERVED_LIMITS`), also on the image as resized for the model;
:func:`ml.preprocessing_np.eval_transform` and :func:`~ml.preprocessing_np.scope_input`; the CPU engine
``auto`` picks (int8 where the weights and the CPU allow); the calibration and the input assessment of
:mod:`ml.engine.answers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml.decoding import SERVED_KINDS, DecodeLimits, TooManyPixelsError, decode_as, sniff
from ml.engine import Classifier, Engine, EngineName, build_engine, resolve_engine
from ml.engine.answers import ModelInputs, assess_batch, calibrated
from ml.engine.gate import ServingGate
from ml.model.assessment import Assessment
from ml.model.layout import SCOPE_SIZE
from ml.model.monitor import MonitorConfig
from ml.model.weights_file import WeightsError, WeightsFile, WeightsMetadata, read_weights
from ml.preprocess_spec import crop_geometry
from ml.preprocessing_np import eval_transform, scope_input


@dataclass(frozen=True)
class Answer:
    probabilities: np.ndarray
    """Calibrated, in the weights' class order."""
    predicted: int
    assessment: Assessment
    """The per-image verdict, before the site's monitor adds anything."""


class ServedModel:
    """A weights file loaded as the service loads it, on the CPU."""

    def __init__(self, weights: WeightsFile, engine: Engine, limits: DecodeLimits) -> None:
        self.metadata: WeightsMetadata = weights.metadata
        self.sha256 = weights.sha256
        self.engine = engine
        self.limits = limits
        self.gate: ServingGate | None = None
        if weights.gate is not None:
            try:
                self.gate = ServingGate(weights.gate, weights.gate_tensors, weights.sha256)
            except (KeyError, ValueError) as exc:
                raise WeightsError(f"invalid input-assessment gate: {exc}") from exc
        self.scope_size = weights.gate.scope_size if weights.gate is not None else SCOPE_SIZE

    @classmethod
    def load(cls, path: Path, engine: str, limits: DecodeLimits, threads: int = 0) -> ServedModel:
        """``engine``: one of :data:`ml.engine.CHOICES`, resolved for the CPU as the service resolves it;
        raises :class:`WeightsError` or :class:`ml.engine.EngineError`."""
        weights = read_weights(path)
        name = resolve_engine(engine, "cpu", weights.int8 is not None)
        return cls(weights, build_engine(name, Classifier.of(weights), "cpu", threads, weights.int8), limits)

    @property
    def classes(self) -> list[str]:
        return list(self.metadata.classes)

    @property
    def engine_name(self) -> EngineName:
        return self.engine.name

    @property
    def monitor(self) -> MonitorConfig | None:
        return self.gate.config.monitor if self.gate is not None else None

    def prepare(self, data: bytes) -> ModelInputs:
        """Bytes -> model inputs; raises :class:`ml.decoding.DecodeError` as the service would refuse."""
        decoded = decode_as(data, sniff(data, SERVED_KINDS), self.limits)
        spec = self.metadata.preprocessing
        geometry = crop_geometry(decoded.height, decoded.width, spec)
        resized = geometry.resized_height * geometry.resized_width
        if resized > self.limits.max_pixels:
            raise TooManyPixelsError(
                f"Resized for the model the image would be {resized} pixels; the limit is "
                f"{self.limits.max_pixels}."
            )
        return ModelInputs(
            eval_transform(decoded.pixels, spec, geometry),
            scope_input(decoded.pixels, self.scope_size),
            decoded.facts(),
        )

    def answer(self, batch: list[ModelInputs]) -> list[Answer]:
        """One forward pass over ``batch``, each answer assessed as :class:`service.runner.ModelRunner`
        assesses it."""
        result = self.engine.predict(
            np.stack([p.inputs for p in batch]), with_cam=False, with_taps=self.gate is not None
        )
        probabilities = calibrated(result.logits, self.metadata.temperature)
        verdicts = assess_batch(self.gate, batch, probabilities, result.taps)
        predicted = probabilities.argmax(axis=1).tolist()
        return [Answer(probabilities[i], predicted[i], verdicts[i]) for i in range(len(batch))]
