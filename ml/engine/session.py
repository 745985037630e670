"""ONNX Runtime sessions on the CPU, configured once for the classifier and the scope classifier."""

from __future__ import annotations

import importlib.util
from typing import Any


def onnxruntime_installed() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def cpu_session(model: bytes, threads: int = 0) -> Any:
    """An ``onnxruntime.InferenceSession`` of ``model`` on the CPU; ``threads`` 0: ONNX Runtime's default."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    # Spinning pool threads would take the cores that decoding and the overlays need between batches.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
