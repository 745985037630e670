"""FastAPI dependencies, as ``Annotated`` aliases; tests override :func:`get_worker`."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import Depends, Request

from service.errors import NotReadyError
from service.metrics import ServiceMetrics
from service.settings import Settings
from service.worker import InferenceWorker


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_metrics(request: Request) -> ServiceMetrics:
    metrics: ServiceMetrics = request.app.state.metrics
    return metrics


def get_worker(request: Request) -> InferenceWorker:
    worker: InferenceWorker | None = getattr(request.app.state, "worker", None)
    if worker is None:
        settings = get_app_settings(request)
        raise NotReadyError(
            "The model is still loading; retry shortly.", retry_after_s=settings.retry_after_s
        )
    return worker


def get_decode_limiter(request: Request) -> anyio.CapacityLimiter:
    limiter: anyio.CapacityLimiter = request.app.state.decode_limiter
    return limiter


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]
WorkerDep = Annotated[InferenceWorker, Depends(get_worker)]
DecodeLimiterDep = Annotated[anyio.CapacityLimiter, Depends(get_decode_limiter)]
