"""The application factory. Importing this module loads nothing; the lifespan builds the worker."""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from ml.decoding import configure_pydicom
from ml.model import WeightsError
from service.allocator import keep_freed_memory
from service.auth import ApiKeyVerifier
from service.device import StartupError
from service.metrics import ServiceMetrics
from service.middleware import RequestContextMiddleware
from service.openapi import DocumentedFastAPI
from service.problems import install_error_handlers
from service.routes import router
from service.routes.docs import mount_docs
from service.routes.web import mount_web
from service.settings import Settings, settings_from_env
from service.sites import SITE_HEADER, SiteMonitor
from service.worker import InferenceWorker

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Classifies a chest X-ray (PNG, JPEG or DICOM) as COVID-19, normal or viral pneumonia and shows, with a
Grad-CAM heatmap, which regions drove the answer. Research and teaching only: not a medical device.

Errors are `application/problem+json` (RFC 9457) with a `request_id`. When API keys are configured,
`/predict`, `/model` and `/metrics` need `Authorization: Bearer <key>` or `X-API-Key: <key>`; the probes,
this documentation and the web page stay public.

The model is validated only on the sources of its training database. A source-shift monitor watches each
site's recent answers (`X-CXR-Site`, else the API key, else one site `default`): while a site's films look
unlike the training hospitals', every answer for it is marked `unfamiliar_source`. Run
`python -m ml validate-site DIR --labels CSV` on a hospital's own films before relying on the answers.
"""


def _version() -> str:
    try:
        return importlib.metadata.version("cxr-service")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    keep_freed_memory()  # before the model allocates: no page faults on every forward pass
    app.state.decode_limiter = anyio.CapacityLimiter(settings.decode_concurrency)
    try:
        worker = await anyio.to_thread.run_sync(InferenceWorker.load, settings, app.state.metrics)
    except (WeightsError, StartupError) as exc:
        # A configuration the operator must change: the message says what, a traceback would bury it.
        logger.error("startup failed: %s", exc, extra={"error_type": type(exc).__name__})
        raise
    except Exception as exc:
        logger.exception("startup failed: %s", exc, extra={"error_type": type(exc).__name__})
        raise
    gate = worker.runner.gate
    monitor = gate.config.monitor if gate is not None else None
    app.state.sites = SiteMonitor(monitor, settings.monitor_max_sites, app.state.metrics)
    worker.start()
    app.state.worker = worker
    try:
        yield
    finally:
        logger.info("draining the inference queue")
        await anyio.to_thread.run_sync(worker.stop, settings.drain_timeout_s)


def begin_drain(app: FastAPI) -> None:
    """Called on SIGTERM/SIGINT before the server stops: /readyz turns 503 and new work is refused."""
    worker: InferenceWorker | None = getattr(app.state, "worker", None)
    if worker is not None:
        worker.begin_drain()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or settings_from_env()
    configure_pydicom()
    metrics = ServiceMetrics()
    app = DocumentedFastAPI(
        title="Chest X-ray classifier",
        version=_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by mount_docs, from the service's own copy of the assets
        redoc_url=None,
        openapi_tags=[
            {"name": "inference", "description": "Classify an X-ray and explain the answer."},
            {"name": "operations", "description": "Health, readiness, metrics and the model card."},
        ],
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.api_keys = ApiKeyVerifier(settings.api_keys)
    app.state.worker = None
    install_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID", SITE_HEADER],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    app.include_router(router)
    mount_docs(app)
    mount_web(app)
    return app
