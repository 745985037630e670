"""``POST /predict``: the image in, calibrated probabilities, their assessment and Grad-CAM out."""

from __future__ import annotations

import time
from functools import partial
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Header, Query, Request, Response

from ml.model.assessment import Assessment
from ml.model.monitor import WindowState
from service.auth import require_api_key
from service.deps import DecodeLimiterDep, MetricsDep, PipelineDep, SettingsDep, SitesDep, WorkerDep
from service.disconnect import unless_disconnected
from service.errors import OutOfScopeError
from service.negotiation import FhirDep
from service.openapi import PREDICT_OPENAPI_EXTRA, problem_responses
from service.runner import WorkItem
from service.schemas import Assessment as AssessmentBody
from service.schemas import AssessmentScores, GradCam, ModelRef, PredictionResponse, SiteStatus
from service.sites import SITE_HEADER, SITE_PATTERN, site_of
from service.upload import read_body

router = APIRouter(tags=["inference"], dependencies=[Depends(require_api_key)])


@router.post(
    "/predict",
    response_model=PredictionResponse,
    summary="Classify a chest X-ray, say whether to trust the answer, and explain it with Grad-CAM",
    description=(
        "Send a PNG, JPEG or DICOM chest X-ray, as multipart field `file` or as the raw body. Answers the "
        "most probable class, the calibrated probability of each class, an `assessment` of whether the "
        "answer can be trusted (out of scope, uncertain, and why) and, unless `gradcam=false`, a Grad-CAM "
        "heatmap of the predicted class blended over the image. With `CXR_REJECT_OUT_OF_SCOPE=true`, an "
        "image out of scope gets a 422 `out-of-scope` problem instead. Each answer is counted for a site "
        "(`X-CXR-Site`, else the API key, else `default`); while that site's recent films look unlike the "
        "training hospitals', every answer for it carries `unfamiliar_source`. With "
        "`Accept: application/fhir+json` the same answer comes as a FHIR R4 DiagnosticReport."
    ),
    responses=problem_responses(400, 401, 413, 415, 422, 500, 503, 504),
    openapi_extra=PREDICT_OPENAPI_EXTRA,
)
async def predict(
    request: Request,
    worker: WorkerDep,
    pipeline: PipelineDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    limiter: DecodeLimiterDep,
    sites: SitesDep,
    fhir: FhirDep,
    gradcam: Annotated[bool, Query(description="Include the Grad-CAM overlay (costs a few percent).")] = True,
    site: Annotated[
        str | None,
        Header(
            alias=SITE_HEADER,
            pattern=SITE_PATTERN,
            description="The site (hospital, ward, device) this image comes from: 1-64 letters, digits, "
            "`.`, `_` or `-`. The source-shift monitor keeps each site's recent answers apart. Without "
            "it: the API key's identity when keys are configured, else one site `default`.",
        ),
    ] = None,
) -> PredictionResponse | Response:
    deadline = time.monotonic() + settings.request_timeout_s
    with worker.admission.admit():
        body = await read_body(request, settings.max_body_bytes)
        job = partial(pipeline.prepare, request.headers.get("content-type"), body, gradcam)
        prepared = await anyio.to_thread.run_sync(job, limiter=limiter)
        del body, job
    request.state.image_kind = prepared.kind.value
    request.state.image_width, request.state.image_height = prepared.facts.width, prepared.facts.height
    request.state.device = worker.device

    item = WorkItem(prepared.inputs, prepared.scope_inputs, prepared.facts)
    prediction = await unless_disconnected(request, worker.infer(item, with_cam=gradcam, deadline=deadline))
    request.state.batch_size = prediction.batch_size
    request.state.queue_ms = round(prediction.queue_s * 1000, 2)
    request.state.inference_ms = round(prediction.inference_s * 1000, 2)
    request.state.site = site_of(site, getattr(request.state, "api_key_identity", None))
    assessment, window = sites.observe(request.state.site, prediction.assessment)
    request.state.assessment = ",".join(assessment.reasons) or "trusted"
    metrics.observe_assessment(assessment)
    if settings.reject_out_of_scope and not assessment.in_scope:
        raise OutOfScopeError.of(assessment.reasons)

    classes = worker.metadata.classes
    label = classes[prediction.label_index]
    overlay = None
    if prepared.canvas is not None and prediction.cam is not None:
        rendered = await anyio.to_thread.run_sync(pipeline.render, prepared.canvas, prediction.cam)
        overlay = GradCam(
            target=label, overlay_png_base64=rendered.png_base64, width=rendered.width, height=rendered.height
        )
    answer = PredictionResponse(
        label=label,
        probabilities=dict(zip(classes, prediction.probabilities, strict=True)),
        gradcam=overlay,
        assessment=_body(assessment, request.state.site, window),
        model=ModelRef(name=worker.metadata.name, version=worker.metadata.version, sha256=worker.sha256),
        request_id=request.state.request_id,
    )
    return fhir.respond(answer) if fhir is not None else answer


def _body(assessment: Assessment, site: str, window: WindowState | None) -> AssessmentBody:
    status = None
    if window is not None:
        status = SiteStatus(
            name=site,
            answers=window.answers,
            window=window.window,
            statistic=None if window.statistic is None else round(window.statistic, 4),
            unfamiliar=window.alarm,
        )
    return AssessmentBody(
        in_scope=assessment.in_scope,
        uncertain=assessment.uncertain,
        reasons=list(assessment.reasons),
        scores=AssessmentScores.model_validate(assessment.scores),
        site=status,
    )
