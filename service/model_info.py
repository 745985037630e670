"""The body of ``GET /model``: the served model, its input, calibration, input assessment and monitor.
Fields may be added, never removed."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ml.engine.names import EngineName
from service.schemas import SHA_EXAMPLE


class InputSpec(BaseModel):
    resize: int = Field(description="The shorter side is scaled to this many pixels.")
    crop: int = Field(description="Then a centre crop of crop x crop pixels is taken.")
    mean: float
    std: float
    channels: int
    interpolation: str
    standardize: str = Field(description="Intensity standardisation before the crop: none or percentile.")


class GateThresholds(BaseModel):
    min_chest_xray: float = Field(description="Out of scope below this scope probability.")
    max_distance: float = Field(description="Out of scope above this feature-distance score.")
    min_typicality: float = Field(description="Uncertain below this typicality.")
    min_confidence: float = Field(
        description="Uncertain below this calibrated confidence, for a class without its own threshold."
    )
    min_class_confidence: dict[str, float] = Field(
        default_factory=dict,
        description="Per answered class, uncertain below this calibrated confidence (replaces "
        "min_confidence for that class); empty for gates fitted before 1.4.0.",
    )


class GateInfo(BaseModel):
    thresholds: GateThresholds = Field(description="Chosen on the validation split by `python -m ml export`.")
    fitted: dict[str, Any] = Field(description="How the thresholds were chosen.")


class MonitorInfo(BaseModel):
    window: int = Field(description="In-scope answers per site that the statistic averages.")
    alarm_below: float = Field(description="A site's alarm starts when its statistic falls below this.")
    clear_above: float = Field(description="Once on, the alarm ends when the statistic rises above this.")
    max_sites: int = Field(description="Sites this process keeps (CXR_MONITOR_MAX_SITES).")
    fitted: dict[str, Any] = Field(description="How the reference and the thresholds were chosen.")


class ModelInfo(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "paper-cnn",
                    "version": "1.0.0",
                    "sha256": SHA_EXAMPLE,
                    "architecture": "paper_cnn",
                    "classes": ["COVID", "Normal", "Viral Pneumonia"],
                    "input": {
                        "resize": 256,
                        "crop": 224,
                        "mean": 0.5,
                        "std": 0.5,
                        "channels": 3,
                        "interpolation": "bilinear-antialias",
                        "standardize": "none",
                    },
                    "temperature": 1.31,
                    "metrics": {"test": {"accuracy": 0.962, "macro_f1": 0.958}},
                    "device": "cpu",
                    "engine": "onnxruntime-int8",
                    "gate": {
                        "thresholds": {
                            "min_chest_xray": 0.5,
                            "max_distance": 3.1,
                            "min_typicality": 0.02,
                            "min_confidence": 0.71,
                            "min_class_confidence": {"COVID": 0.8, "Normal": 0.97, "Viral Pneumonia": 0.71},
                        },
                        "fitted": {"validation_images": 2048},
                    },
                    "monitor": {
                        "window": 16,
                        "alarm_below": 0.3044,
                        "clear_above": 0.4538,
                        "max_sites": 1000,
                        "fitted": {"reference": "validation select half", "reference_answers": 1016},
                    },
                    "intended_use": "Research and teaching only; not a medical device.",
                }
            ]
        }
    )

    name: str
    version: str
    sha256: str
    architecture: str
    classes: list[str] = Field(description="In the model's output order.")
    input: InputSpec
    temperature: float = Field(description="Logits are divided by it before the softmax (calibration).")
    metrics: dict[str, Any] = Field(description="Evaluation metrics recorded in the weights' metadata.")
    device: str = Field(description="`cpu` or `cuda`.")
    engine: EngineName = Field(
        description="What runs the weights: `torch` (the module itself, CPU or CUDA), `onnxruntime` (ONNX "
        "Runtime on the CPU, fp32) or `onnxruntime-int8` (ONNX Runtime on the CPU, int8 weights and "
        "activations). See `CXR_ENGINE`."
    )
    gate: GateInfo | None = Field(
        description="The input assessment's thresholds; null when the weights carry none (every answer is "
        "then marked uncertain with reason gate_unavailable)."
    )
    monitor: MonitorInfo | None = Field(
        default=None,
        description="The source-shift monitor's window and thresholds (each site's recent answers are "
        "compared with the training hospitals'); null when the weights carry none.",
    )
    intended_use: str
