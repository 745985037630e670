"""Response bodies. Fields may be added, never removed: clients are built on this schema."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from ml.classes import CLASSES
from ml.engine.names import EngineName
from ml.model.checks import Reason

_SHA = "9c1e5b0f2a7d4e8c6b3a1f0e9d8c7b6a5f4e3d2c1b0a99887766554433221100"
_MODEL_EXAMPLE: JsonDict = {"name": "paper-cnn", "version": "1.0.0", "sha256": _SHA}


class ModelRef(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_MODEL_EXAMPLE]})

    name: str
    version: str
    sha256: str = Field(description="SHA-256 of the weights file that produced the answer.")


class GradCam(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "target": "COVID",
                    "overlay_png_base64": "iVBORw0KGgoAAAANSUhEUgAA...",
                    "width": 512,
                    "height": 512,
                }
            ]
        }
    )

    target: str = Field(description="The class the heatmap explains: the predicted one.")
    overlay_png_base64: str = Field(
        description="PNG, base64: the heatmap (jet colours) blended over the image as sent, aspect kept. "
        "Only the centre crop the model saw is coloured; a thin dashed white-and-black line just outside it "
        "marks where that crop ends."
    )
    width: int = Field(description="Overlay width in pixels.")
    height: int = Field(
        description="Overlay height in pixels; the longest side is at most CXR_OVERLAY_MAX_SIDE."
    )


_ASSESSMENT_EXAMPLE: JsonDict = {
    "in_scope": True,
    "uncertain": False,
    "reasons": [],
    "scores": {"chest_xray": 0.998, "typicality": 0.41, "confidence": 0.97},
}


class AssessmentScores(BaseModel):
    chest_xray: float | None = Field(
        description="The scope classifier's probability that the image is a frontal chest radiograph; "
        "null when the weights carry no gate."
    )
    typicality: float | None = Field(
        description="Share of validation images whose features lie at least as far from the training data: "
        "about 0.5 for a typical image, near 0 for one stranger than all of them; null without a gate."
    )
    confidence: float = Field(description="The calibrated probability of the predicted class.")


class Assessment(BaseModel):
    """Whether the answer can be trusted. Trust it alone only when in_scope is true and uncertain false."""

    model_config = ConfigDict(json_schema_extra={"examples": [_ASSESSMENT_EXAMPLE]})

    in_scope: bool = Field(
        description="False when the image is not a frontal chest radiograph (a photo, a document, a CT or MR "
        "slice, a lateral view, another body part, a blank, rotated or inverted image) or lies far outside "
        "the training data; the probabilities are then meaningless."
    )
    uncertain: bool = Field(
        description="True when the image is in scope but the answer must not stand alone (low calibrated "
        "confidence, or features atypical of the training data)."
    )
    reasons: list[Reason] = Field(
        description="Stable codes for every finding, out-of-scope ones first; empty for a trusted answer. "
        "`gate_unavailable` means the weights carry no input assessment."
    )
    scores: AssessmentScores


class PredictionResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "label": "COVID",
                    "probabilities": {"COVID": 0.91, "Normal": 0.07, "Viral Pneumonia": 0.02},
                    "gradcam": {
                        "target": "COVID",
                        "overlay_png_base64": "iVBORw0KGgoAAAANSUhEUgAA...",
                        "width": 512,
                        "height": 512,
                    },
                    "assessment": _ASSESSMENT_EXAMPLE,
                    "model": _MODEL_EXAMPLE,
                    "request_id": "5f0c8a4e2b9d4c1e8f7a6b5c4d3e2f10",
                }
            ]
        }
    )

    label: str = Field(description="The most probable class.", json_schema_extra={"enum": list(CLASSES)})
    probabilities: dict[str, float] = Field(
        description="Every class with its probability; they sum to 1 and are temperature-calibrated."
    )
    gradcam: GradCam | None = Field(description="The Grad-CAM overlay, or null when gradcam=false.")
    assessment: Assessment
    model: ModelRef
    request_id: str = Field(description="Also in the X-Request-ID header; quote it when reporting a problem.")


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


class ModelInfo(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "paper-cnn",
                    "version": "1.0.0",
                    "sha256": _SHA,
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
    intended_use: str


class Health(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ready", "queue_depth": 0}]})

    status: Literal["ready"] = "ready"
    queue_depth: int = Field(description="Requests waiting for the model right now.")


class Problem(BaseModel):
    """RFC 9457 problem details: the body of every error response, as application/problem+json."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "urn:cxr-service:problem:image-too-small",
                    "title": "Image too small",
                    "status": 422,
                    "detail": "The image is 40x40 pixels; each side must be at least 64.",
                    "request_id": "5f0c8a4e2b9d4c1e8f7a6b5c4d3e2f10",
                }
            ]
        }
    )

    type: str = Field(description="A URI naming the kind of problem; stable, match on it.")
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong with this request and what to do about it.")
    request_id: str
