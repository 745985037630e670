"""FastAPI dependencies, as ``Annotated`` aliases; tests override :func:`get_worker`.

They are ``async def`` although they never await: FastAPI runs a plain ``def`` dependency in the thread
pool, and three thread hops per request for attribute lookups cost more than the lookups themselves
(about 0.45 ms of a request's latency in a profile).
"""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import Depends, Request

from service.errors import NotReadyError
from service.metrics import ServiceMetrics
from service.pipeline import Pipeline
from service.settings import Settings
from service.sites import SiteMonitor
from service.worker import InferenceWorker


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_app_settings(request: Request) -> Settings:
    """The settings this app was built with (``create_app(settings)``), not a new read of the environment."""
    return _settings(request)


async def get_metrics(request: Request) -> ServiceMetrics:
    metrics: ServiceMetrics = request.app.state.metrics
    return metrics


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]


async def get_worker(request: Request) -> InferenceWorker:
    worker: InferenceWorker | None = getattr(request.app.state, "worker", None)
    if worker is None:
        settings = _settings(request)
        raise NotReadyError(
            "The model is still loading; retry shortly.", retry_after_s=settings.retry_after_s
        )
    return worker


WorkerDep = Annotated[InferenceWorker, Depends(get_worker)]


async def get_pipeline(request: Request, worker: WorkerDep) -> Pipeline:
    """The request path's CPU work, set up for the served weights (a few attribute reads)."""
    return Pipeline.build(_settings(request), worker.metadata.preprocessing, worker.runner.scope_size)


async def get_decode_limiter(request: Request) -> anyio.CapacityLimiter:
    limiter: anyio.CapacityLimiter = request.app.state.decode_limiter
    return limiter


DecodeLimiterDep = Annotated[anyio.CapacityLimiter, Depends(get_decode_limiter)]
PipelineDep = Annotated[Pipeline, Depends(get_pipeline)]


async def get_sites(request: Request, worker: WorkerDep) -> SiteMonitor:
    """The source-shift monitor's windows; built with the worker, so ready when it is."""
    sites: SiteMonitor = request.app.state.sites
    return sites


SitesDep = Annotated[SiteMonitor, Depends(get_sites)]
