"""Response bodies. Fields may be added, never removed: clients are built on this schema."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from ml.classes import CLASSES
from ml.model.checks import Reason

SHA_EXAMPLE = "9c1e5b0f2a7d4e8c6b3a1f0e9d8c7b6a5f4e3d2c1b0a99887766554433221100"
_MODEL_EXAMPLE: JsonDict = {"name": "paper-cnn", "version": "1.0.0", "sha256": SHA_EXAMPLE}


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
    "scores": {"chest_xray": 0.998, "typicality": 0.41, "confidence": 0.97, "familiarity": 0.52},
    "site": {"name": "default", "answers": 16, "window": 16, "statistic": 0.49, "unfamiliar": False},
}
UNFAMILIAR_EXAMPLE: JsonDict = {
    "in_scope": True,
    "uncertain": True,
    "reasons": ["unfamiliar_source"],
    "scores": {"chest_xray": 0.995, "typicality": 0.28, "confidence": 0.9, "familiarity": 0.17},
    "site": {"name": "ward-7", "answers": 16, "window": 16, "statistic": 0.21, "unfamiliar": True},
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
    familiarity: float | None = Field(
        default=None,
        description="The source-shift monitor's score of this answer: the mean of two percentiles among "
        "validation answers of the same class, of the feature distance (share at least as far) and of the "
        "confidence (share at most as sure). About 0.5 on average at a familiar hospital; the site's "
        "`statistic` averages it. Null when the weights carry no monitor.",
    )


class SiteStatus(BaseModel):
    """The source-shift monitor's view of the site this answer was counted for, after counting it."""

    name: str = Field(
        description="The site: the X-CXR-Site header, else the API key's identity (`key-` and a hash "
        "prefix, never the key), else `default`."
    )
    answers: int = Field(description="In-scope answers in the site's window (at most `window`).")
    window: int = Field(description="In-scope answers the statistic averages.")
    statistic: float | None = Field(
        description="The mean familiarity of the window's answers; null until the window is full."
    )
    unfamiliar: bool = Field(
        description="The alarm: the site's recent films look unlike the hospitals the model was trained "
        "and validated on. It starts when the statistic falls below the monitor's `alarm_below` and ends "
        "when it rises above `clear_above` (GET /model); while on, every answer for the site carries "
        "`unfamiliar_source`."
    )


class Assessment(BaseModel):
    """Whether the answer can be trusted. Trust it alone only when in_scope is true and uncertain false."""

    model_config = ConfigDict(json_schema_extra={"examples": [_ASSESSMENT_EXAMPLE, UNFAMILIAR_EXAMPLE]})

    in_scope: bool = Field(
        description="False when the image is not a frontal chest radiograph (a photo, a document, a CT or MR "
        "slice, a lateral view, another body part, a blank, rotated or inverted image) or lies far outside "
        "the training data; the probabilities are then meaningless."
    )
    uncertain: bool = Field(
        description="True when the image is in scope but the answer must not stand alone (low calibrated "
        "confidence, features atypical of the training data, or a site whose films look unfamiliar)."
    )
    reasons: list[Reason] = Field(
        description="Stable codes for every finding, out-of-scope ones first; empty for a trusted answer. "
        "`gate_unavailable` means the weights carry no input assessment; `unfamiliar_source` that the "
        "site's recent films look unlike the training hospitals' (see `site`), whatever this image's own "
        "scores."
    )
    scores: AssessmentScores
    site: SiteStatus | None = Field(
        default=None, description="The source-shift monitor's state for this site; null without a monitor."
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
