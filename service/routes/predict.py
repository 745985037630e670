"""``POST /predict``: decode and preprocess off the event loop, infer in the worker, draw the overlay."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, TypeVar

import anyio.to_thread
import torch
from fastapi import APIRouter, Depends, Query, Request

from ml.preprocessing import PreprocessSpec, eval_transform, resized_shape
from service.auth import require_api_key
from service.decoding import DecodeLimits, ImageKind, decode_image
from service.deps import DecodeLimiterDep, SettingsDep, WorkerDep
from service.errors import ClientDisconnectedError, ImageTooLargeError
from service.openapi import PREDICT_OPENAPI_EXTRA, problem_responses
from service.overlay import OverlayCanvas, make_canvas, render_overlay
from service.schemas import GradCam, ModelRef, PredictionResponse
from service.upload import extract_image, read_body

T = TypeVar("T")

router = APIRouter(tags=["inference"], dependencies=[Depends(require_api_key)])


@dataclass(frozen=True)
class PreparedImage:
    kind: ImageKind
    width: int
    height: int
    inputs: torch.Tensor
    """The model's input ``[C, crop, crop]``."""
    canvas: OverlayCanvas | None


def prepare(
    content_type: str | None,
    body: bytes,
    limits: DecodeLimits,
    spec: PreprocessSpec,
    overlay_max_side: int,
    with_canvas: bool,
) -> PreparedImage:
    """Blocking: body -> image bytes -> grayscale -> model input (and the overlay canvas when asked)."""
    decoded = decode_image(extract_image(content_type, body), limits)
    check_working_size(decoded.height, decoded.width, spec, limits.max_pixels)
    inputs = eval_transform(torch.from_numpy(decoded.pixels), spec).contiguous()
    canvas = make_canvas(decoded.pixels, spec, overlay_max_side) if with_canvas else None
    return PreparedImage(decoded.kind, decoded.width, decoded.height, inputs, canvas)


def check_working_size(height: int, width: int, spec: PreprocessSpec, max_pixels: int) -> None:
    """The pixel limit also bounds the image as resized for the model.

    The shorter side is scaled to ``spec.resize``, so a thin strip (64 x 100000: a few kilobytes as a PNG)
    would grow many times over: gigabytes of memory and seconds of CPU for one request.
    """
    resized_height, resized_width = resized_shape(height, width, spec.resize)
    if resized_height * resized_width > max_pixels:
        raise ImageTooLargeError(
            f"The image is {width}x{height} pixels; with its shorter side scaled to {spec.resize} for the "
            f"model it would be {resized_width}x{resized_height} = {resized_width * resized_height} pixels, "
            f"over the limit of {max_pixels}. Crop it to the region of interest."
        )


async def _wait_for_disconnect(request: Request) -> None:
    # The body has been read, so the next message the server sends is the disconnect (or nothing at all
    # until the response is complete).
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(request: Request, work: Coroutine[Any, Any, T]) -> T:
    """Await ``work``; if the client goes away first, cancel it (dropping its queued inference)."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_wait_for_disconnect(request))
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
    if task not in done:
        raise ClientDisconnectedError(
            "The client disconnected before the answer was ready; the work was dropped."
        )
    return task.result()


@router.post(
    "/predict",
    response_model=PredictionResponse,
    summary="Classify a chest X-ray and explain it with Grad-CAM",
    description=(
        "Send a PNG, JPEG or DICOM chest X-ray, as multipart field `file` or as the raw body. Answers the "
        "most probable class, the calibrated probability of each class and, unless `gradcam=false`, a "
        "Grad-CAM heatmap of the predicted class blended over the image."
    ),
    responses=problem_responses(400, 401, 413, 415, 422, 500, 503, 504),
    openapi_extra=PREDICT_OPENAPI_EXTRA,
)
async def predict(
    request: Request,
    worker: WorkerDep,
    settings: SettingsDep,
    limiter: DecodeLimiterDep,
    gradcam: Annotated[bool, Query(description="Include the Grad-CAM overlay (costs a few percent).")] = True,
) -> PredictionResponse:
    deadline = time.monotonic() + settings.request_timeout_s
    with worker.admit():
        body = await read_body(request, settings.max_body_bytes)
        limits = DecodeLimits(max_pixels=settings.max_pixels, min_side=settings.min_side)
        spec = worker.metadata.preprocessing
        job = partial(
            prepare,
            request.headers.get("content-type"),
            body,
            limits,
            spec,
            settings.overlay_max_side,
            gradcam,
        )
        prepared = await anyio.to_thread.run_sync(job, limiter=limiter)
        del body, job
    request.state.image_kind = prepared.kind.value
    request.state.image_width, request.state.image_height = prepared.width, prepared.height
    request.state.device = worker.device.type

    prediction = await unless_disconnected(
        request, worker.infer(prepared.inputs, with_cam=gradcam, deadline=deadline)
    )
    request.state.batch_size = prediction.batch_size
    request.state.queue_ms = round(prediction.queue_s * 1000, 2)
    request.state.inference_ms = round(prediction.inference_s * 1000, 2)

    classes = worker.metadata.classes
    label = classes[prediction.label_index]
    overlay = None
    if prepared.canvas is not None and prediction.cam is not None:
        rendered = await anyio.to_thread.run_sync(render_overlay, prepared.canvas, prediction.cam)
        overlay = GradCam(
            target=label, overlay_png_base64=rendered.png_base64, width=rendered.width, height=rendered.height
        )
    return PredictionResponse(
        label=label,
        probabilities=dict(zip(classes, prediction.probabilities, strict=True)),
        gradcam=overlay,
        model=ModelRef(name=worker.metadata.name, version=worker.metadata.version, sha256=worker.sha256),
        request_id=request.state.request_id,
    )
