"""The model's side of a batch: one forward pass, Grad-CAM, calibration and the input assessment.

:class:`ModelRunner` owns the engine (:mod:`ml.engine`: ONNX Runtime on the CPU, or torch) and the input
assessment's gate (:mod:`ml.engine.gate`), and knows nothing of queues or requests; the inference worker
(:mod:`service.worker`) calls it from its one thread. Everything here is numpy: torch is loaded only by the
torch engine.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from ml.engine import Classifier, Engine, build_engine
from ml.engine.answers import ModelInputs, assess_batch, calibrated
from ml.engine.gate import ServingGate
from ml.model.assessment import Assessment
from ml.model.checks import ImageFacts
from ml.model.layout import SCOPE_SIZE
from ml.model.weights_file import WeightsError, WeightsMetadata, read_weights
from service.device import model_threads, resolve_device, resolve_engine
from service.settings import Settings

logger = logging.getLogger(__name__)


WorkItem = ModelInputs
"""One preprocessed image, as :class:`service.pipeline.PreparedImage` hands it over."""


@dataclass(frozen=True)
class Answer:
    probabilities: tuple[float, ...]
    """Temperature-calibrated, in the order of the weights' class list."""
    label_index: int
    cam: np.ndarray | None
    """``[h, w]`` float32 in [0, 1] for the predicted class, or None when not asked for."""
    assessment: Assessment


class ModelRunner:
    def __init__(self, metadata: WeightsMetadata, engine: Engine, gate: ServingGate | None) -> None:
        self.metadata = metadata
        self.engine = engine
        self.device = engine.device
        self.gate = gate

    @property
    def scope_size(self) -> int:
        """The scope classifier's input side: the pipeline shrinks every image to it."""
        return self.gate.config.scope_size if self.gate is not None else SCOPE_SIZE

    def warm_up(self, batch_sizes: set[int]) -> None:
        """Inference on blank inputs proves the model runs; on CUDA a full batch also sizes its pools."""
        spec = self.metadata.preprocessing
        for size in sorted(batch_sizes):
            blank = WorkItem(
                np.zeros((spec.channels, spec.crop, spec.crop), np.float32),
                np.zeros((1, self.scope_size, self.scope_size), np.float32),
                ImageFacts(spec.crop, spec.crop),
            )
            self.run([blank] * size, [True] * size)

    def run(self, items: list[WorkItem], with_cam: list[bool]) -> list[Answer]:
        inputs = np.stack([item.inputs for item in items])
        result = self.engine.predict(inputs, with_cam=any(with_cam), with_taps=self.gate is not None)
        probabilities = calibrated(result.logits, self.metadata.temperature)
        assessments = assess_batch(self.gate, items, probabilities, result.taps)
        return [
            Answer(
                probabilities=tuple(probabilities[i].tolist()),
                label_index=int(result.targets[i]),
                cam=result.cams[i].copy() if result.cams is not None and with_cam[i] else None,
                assessment=assessments[i],
            )
            for i in range(len(items))
        ]


def load_runner(settings: Settings) -> tuple[ModelRunner, str]:
    """Blocking: read and check the weights, build the engine and the gate, warm up; returns the file's
    sha256 too."""
    started = time.perf_counter()
    device = resolve_device(settings.device)
    weights = read_weights(settings.weights_path)
    engine_name = resolve_engine(settings.engine, device, weights.int8 is not None)
    if weights.gate is None:
        logger.warning("the weights carry no input assessment: every answer is marked gate_unavailable")
    threads = model_threads(settings.torch_threads, settings.workers)
    classifier = Classifier.of(weights)
    engine = build_engine(engine_name, classifier, device, threads, weights.int8)
    gate = None
    if weights.gate is not None:
        try:
            gate = ServingGate(weights.gate, weights.gate_tensors, weights.sha256)
        except (KeyError, ValueError) as exc:
            raise WeightsError(f"invalid input-assessment gate: {exc}") from exc
    runner = ModelRunner(weights.metadata, engine, gate)
    # On CUDA a full batch also sizes the allocator's pools.
    runner.warm_up({1, settings.max_batch_size} if device == "cuda" else {1})
    facts = {
        "device": device,
        "engine": engine.name,
        "threads": threads,
        "sha256": weights.sha256,
        "model_name": weights.metadata.name,
    }
    load_s = round(time.perf_counter() - started, 3)
    logger.info("model loaded", extra={**facts, "model_version": weights.metadata.version, "load_s": load_s})
    return runner, weights.sha256
