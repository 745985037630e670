"""Operations endpoints: liveness, readiness, Prometheus metrics and the model card."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, Response

from ml.engine.gate import ServingGate
from service.auth import require_api_key
from service.deps import MetricsDep, SettingsDep, SitesDep, WorkerDep
from service.errors import DrainingError, NotReadyError
from service.model_info import GateInfo, GateThresholds, InputSpec, ModelInfo, MonitorInfo
from service.openapi import problem_responses
from service.schemas import Health, Readiness
from service.sites import SiteMonitor

INTENDED_USE = (
    "Research and teaching only; not a medical device and not for diagnosis. Classifies a frontal chest "
    "X-ray as COVID-19, normal or viral pneumonia, reproducing Lim & Lim's CNN trained on the COVID-19 "
    "Radiography Database and validated only on that database's sources: on other hospitals' films it "
    "was right about half the time. Expect errors on images unlike that data (lateral views, children, "
    "other diseases, other hospitals' equipment); the monitor marks a site whose films look unfamiliar "
    "(unfamiliar_source), and `python -m ml validate-site` checks the model on a hospital's own films "
    "before use. The Grad-CAM overlay shows where the model looked, not why."
)

_METRICS_EXAMPLE = (
    "# HELP cxr_inference_batch_size Requests served by one forward pass.\n"
    "# TYPE cxr_inference_batch_size histogram\n"
    'cxr_inference_batch_size_bucket{le="1.0"} 12.0\n'
)

public = APIRouter(tags=["operations"])
protected = APIRouter(tags=["operations"], dependencies=[Depends(require_api_key)])


@public.get(
    "/healthz",
    response_model=Health,
    summary="Liveness: the process answers",
    responses=problem_responses(500),
)
async def healthz() -> Health:
    return Health()


@public.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: weights loaded, warm-up done, not draining",
    responses=problem_responses(NotReadyError, DrainingError, 500),
)
async def readyz(worker: WorkerDep, settings: SettingsDep) -> Readiness:
    if not worker.accepting:
        raise DrainingError(
            "This instance is shutting down; send new work elsewhere.", retry_after_s=settings.retry_after_s
        )
    if not worker.running:
        raise NotReadyError(
            "The inference thread is not running; this instance needs a restart.",
            retry_after_s=settings.retry_after_s,
        )
    return Readiness(queue_depth=worker.queue_depth)


@protected.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text format.",
            "content": {"text/plain": {"example": _METRICS_EXAMPLE}},
        },
        **problem_responses(401, 500),
    },
)
def metrics(metrics: MetricsDep) -> Response:
    # A plain `def`: FastAPI runs it in a thread, so rendering the registry never blocks the event loop.
    return Response(content=metrics.render(), media_type=metrics.content_type)


@protected.get(
    "/model",
    response_model=ModelInfo,
    summary="The served model: classes, input, version, metrics, calibration, intended use",
    responses=problem_responses(401, NotReadyError, 500),
)
async def model(worker: WorkerDep, sites: SitesDep) -> ModelInfo:
    meta = worker.metadata
    spec = meta.preprocessing
    return ModelInfo(
        name=meta.name,
        version=meta.version,
        sha256=worker.sha256,
        architecture=meta.architecture,
        classes=list(meta.classes),
        input=InputSpec(
            resize=spec.resize,
            crop=spec.crop,
            mean=spec.mean,
            std=spec.std,
            channels=spec.channels,
            interpolation=spec.interpolation,
            standardize=spec.standardize,
        ),
        temperature=meta.temperature,
        metrics=meta.metrics,
        device=worker.device,
        engine=worker.runner.engine.name,
        gate=gate_info(worker.runner.gate, meta.classes),
        monitor=monitor_info(sites),
        intended_use=INTENDED_USE,
    )


def gate_info(gate: ServingGate | None, classes: list[str]) -> GateInfo | None:
    if gate is None:
        return None
    thresholds = asdict(gate.config.thresholds)
    thresholds["min_class_confidence"] = dict(zip(classes, thresholds["min_class_confidence"], strict=False))
    return GateInfo(thresholds=GateThresholds(**thresholds), fitted=gate.config.fitted)


def monitor_info(sites: SiteMonitor) -> MonitorInfo | None:
    config = sites.config
    if config is None:
        return None
    return MonitorInfo(
        window=config.window,
        alarm_below=config.alarm_below,
        clear_above=config.clear_above,
        max_sites=sites.max_sites,
        fitted=config.fitted,
    )
