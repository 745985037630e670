"""The model's side of a batch: one forward pass, Grad-CAM, calibration and the input assessment.

:class:`ModelRunner` owns the engine (:mod:`ml.engine`: torch, or ONNX Runtime on the CPU) and knows nothing
of queues or requests; the inference worker (:mod:`service.worker`) calls it from its one thread.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch

from ml.engine import Engine, build_engine
from ml.model import PaperCNN, WeightsMetadata, load_weights
from ml.model.checks import ImageFacts
from ml.model.gate import Assessment, Gate, ungated_assessment
from ml.model.scope import SCOPE_SIZE
from service.device import model_threads, resolve_device, resolve_engine
from service.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkItem:
    """One preprocessed image, as :class:`service.pipeline.PreparedImage` hands it over."""

    inputs: torch.Tensor
    """The classifier's input ``[C, crop, crop]``."""
    scope_inputs: torch.Tensor
    """The scope classifier's input ``[1, s, s]``."""
    facts: ImageFacts


@dataclass(frozen=True)
class Answer:
    probabilities: tuple[float, ...]
    """Temperature-calibrated, in the order of the weights' class list."""
    label_index: int
    cam: np.ndarray | None
    """``[h, w]`` float32 in [0, 1] for the predicted class, or None when not asked for."""
    assessment: Assessment


class ModelRunner:
    def __init__(self, model: PaperCNN, metadata: WeightsMetadata, engine: Engine, gate: Gate | None) -> None:
        self.model = model
        """The module as loaded, which ``engine`` was built from."""
        self.metadata = metadata
        self.engine = engine
        self.device = engine.device
        self.gate = gate
        if gate is not None:
            gate.scope.to(self.device)

    @property
    def scope_size(self) -> int:
        """The scope classifier's input side: the pipeline shrinks every image to it."""
        return self.gate.config.scope_size if self.gate is not None else SCOPE_SIZE

    def warm_up(self, batch_sizes: set[int]) -> None:
        """Inference on blank inputs proves the model runs; on CUDA a full batch also sizes its pools."""
        spec = self.metadata.preprocessing
        for size in sorted(batch_sizes):
            blank = WorkItem(
                torch.zeros(spec.channels, spec.crop, spec.crop),
                torch.zeros(1, self.scope_size, self.scope_size),
                ImageFacts(spec.crop, spec.crop),
            )
            self.run([blank] * size, [True] * size)

    def run(self, items: list[WorkItem], with_cam: list[bool]) -> list[Answer]:
        inputs = torch.stack([item.inputs for item in items])
        result = self.engine.predict(inputs, with_cam=any(with_cam), with_taps=self.gate is not None)
        probabilities = torch.softmax(result.logits / self.metadata.temperature, dim=1).cpu().tolist()
        targets = result.targets.cpu().tolist()
        cams = result.cams.cpu().numpy() if result.cams is not None else None
        assessments = self._assess(items, result.taps, [max(p) for p in probabilities])
        return [
            Answer(
                probabilities=tuple(probabilities[i]),
                label_index=int(targets[i]),
                cam=cams[i].copy() if cams is not None and with_cam[i] else None,
                assessment=assessments[i],
            )
            for i in range(len(items))
        ]

    def _assess(
        self, items: list[WorkItem], taps: list[torch.Tensor], confidence: list[float]
    ) -> list[Assessment]:
        if self.gate is None:
            return [
                ungated_assessment(item.facts, item.scope_inputs, conf)
                for item, conf in zip(items, confidence, strict=True)
            ]
        scope_inputs = torch.stack([item.scope_inputs for item in items]).to(self.device, non_blocking=True)
        signals = self.gate.signals(scope_inputs, taps)
        return [
            self.gate.assess(item.facts, item.scope_inputs, signals, i, conf)
            for i, (item, conf) in enumerate(zip(items, confidence, strict=True))
        ]


def load_runner(settings: Settings) -> tuple[ModelRunner, str]:
    """Blocking: load and validate the weights, build the engine, warm up; returns the file's sha256 too."""
    started = time.perf_counter()
    device = resolve_device(settings.device)
    loaded = load_weights(settings.weights_path)
    engine_name = resolve_engine(settings.engine, device, loaded.int8 is not None)
    if loaded.gate is None:
        logger.warning("the weights carry no input assessment: every answer is marked gate_unavailable")
    threads = model_threads(settings.torch_threads, settings.workers)
    if engine_name.startswith("onnxruntime"):
        # torch still does the small work around the model (resizing uploads, the scope classifier,
        # Grad-CAM's weighted sum). On one thread: torch's OpenMP workers spin after each parallel op
        # and took the cores ONNX Runtime's next batch needed (27 -> 34 ms a batch of one).
        torch.set_num_threads(1)
    elif threads:
        torch.set_num_threads(threads)
    engine = build_engine(engine_name, loaded.model, device, loaded.sha256, threads, loaded.int8)
    runner = ModelRunner(loaded.model, loaded.metadata, engine, loaded.gate)
    # On CUDA a full batch also sizes the allocator's pools.
    runner.warm_up({1, settings.max_batch_size} if device.type == "cuda" else {1})
    facts = {
        "device": str(device),
        "engine": engine.name,
        "threads": threads,
        "sha256": loaded.sha256,
        "model_name": loaded.metadata.name,
    }
    load_s = round(time.perf_counter() - started, 3)
    logger.info("model loaded", extra={**facts, "model_version": loaded.metadata.version, "load_s": load_s})
    return runner, loaded.sha256
