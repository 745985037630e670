"""Response bodies. Fields may be added, never removed: clients are built on this schema."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

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
        "Only the centre crop the model saw is coloured."
    )
    width: int = Field(description="Overlay width in pixels.")
    height: int = Field(
        description="Overlay height in pixels; the longest side is at most CXR_OVERLAY_MAX_SIDE."
    )


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
                    "model": _MODEL_EXAMPLE,
                    "request_id": "5f0c8a4e2b9d4c1e8f7a6b5c4d3e2f10",
                }
            ]
        }
    )

    label: str = Field(
        description="The most probable class.", examples=["COVID", "Normal", "Viral Pneumonia"]
    )
    probabilities: dict[str, float] = Field(
        description="Every class with its probability; they sum to 1 and are temperature-calibrated."
    )
    gradcam: GradCam | None = Field(description="The Grad-CAM overlay, or null when gradcam=false.")
    model: ModelRef
    request_id: str = Field(description="Also in the X-Request-ID header; quote it when reporting a problem.")


class InputSpec(BaseModel):
    resize: int = Field(description="The shorter side is scaled to this many pixels.")
    crop: int = Field(description="Then a centre crop of crop x crop pixels is taken.")
    mean: float
    std: float
    channels: int
    interpolation: str


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
                    },
                    "temperature": 1.31,
                    "metrics": {"test": {"accuracy": 0.962, "macro_f1": 0.958}},
                    "device": "cpu",
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
    device: str
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
