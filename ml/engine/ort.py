"""The classifier in ONNX Runtime on the CPU (fp32 or int8), with Grad-CAM in closed form: no torch."""

from __future__ import annotations

import logging

import numpy as np

from ml.engine.graph import (
    FEATURES,
    HIDDEN,
    INPUT,
    LOGITS,
    Classifier,
    build_classifier,
    tap_name,
)
from ml.engine.names import EngineName
from ml.engine.output import EngineOutput, head_cams
from ml.engine.select import EngineError
from ml.engine.session import cpu_session, onnxruntime_installed
from ml.model.int8 import Int8Calibration

logger = logging.getLogger(__name__)


class OnnxRuntimeEngine:
    device = "cpu"

    def __init__(self, classifier: Classifier, threads: int = 0, int8: Int8Calibration | None = None) -> None:
        if not onnxruntime_installed():
            raise EngineError("the onnxruntime engine needs the onnxruntime package, which is not installed")
        self.name = EngineName.ONNXRUNTIME_INT8 if int8 is not None else EngineName.ONNXRUNTIME
        self.source_sha256 = classifier.sha256
        fc1, fc2 = classifier.layout.head
        self._fc1 = np.array(classifier.tensors[f"{fc1.name}.weight"], dtype=np.float32)
        self._fc2 = np.array(classifier.tensors[f"{fc2.name}.weight"], dtype=np.float32)
        self._taps = [tap_name(i) for i in range(classifier.taps)]
        self.session = cpu_session(build_classifier(classifier, int8), threads)
        logger.info(
            "onnxruntime engine built",
            extra={"engine": self.name, "sha256": classifier.sha256, "threads": threads},
        )

    def predict(
        self, inputs: np.ndarray, *, with_cam: bool, with_taps: bool, targets: np.ndarray | None = None
    ) -> EngineOutput:
        x = np.ascontiguousarray(inputs, dtype=np.float32)
        names = [LOGITS, HIDDEN, FEATURES, *(self._taps if with_taps else [])]
        logits, hidden, features, *taps = self.session.run(names, {INPUT: x})
        chosen = targets if targets is not None else logits.argmax(axis=1)
        cams = head_cams(features, hidden, self._fc1, self._fc2, chosen) if with_cam else None
        return EngineOutput(logits=logits, cams=cams, targets=chosen, taps=taps)
