"""The service's exceptions and the one place that turns any failure into ``application/problem+json``.

Each :class:`ServiceError` subclass is one documented problem type (RFC 9457). Anything else that escapes a
route is a bug: it is logged with its traceback and answered with a 500, never with a 4xx.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:cxr-service:problem:"


class ServiceError(Exception):
    status: ClassVar[int] = 500
    kind: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal server error"
    example: ClassVar[str] = "An unexpected error occurred; it has been logged with this request id."

    def __init__(self, detail: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})

    @classmethod
    def type_uri(cls) -> str:
        return PROBLEM_TYPE_PREFIX + cls.kind


class MalformedRequestError(ServiceError):
    status, kind, title = 400, "malformed-request", "Malformed request"
    example = "The multipart body could not be parsed: missing boundary in the Content-Type header."


class UnauthorizedError(ServiceError):
    status, kind, title = 401, "unauthorized", "Missing or invalid API key"
    example = "Send the API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class PayloadTooLargeError(ServiceError):
    status, kind, title = 413, "payload-too-large", "Request body too large"
    example = "The request body is larger than the limit of 20971520 bytes."


class ImageTooLargeError(ServiceError):
    status, kind, title = 413, "image-too-large", "Image has too many pixels"
    example = "The image is 12000x12000 = 144000000 pixels; the limit is 40000000."

    @classmethod
    def check(cls, width: int, height: int, max_pixels: int) -> None:
        """Called with the header's dimensions, before any pixel is decoded."""
        if width * height > max_pixels:
            raise cls(f"The image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}.")


class UnsupportedMediaTypeError(ServiceError):
    status, kind, title = 415, "unsupported-media-type", "Unsupported media type"
    example = "The upload is neither PNG, JPEG nor DICOM (its first bytes match none of them)."


class MissingDecoderError(ServiceError):
    status, kind, title = 415, "missing-decoder", "No decoder installed for this DICOM encoding"
    example = (
        "DICOM transfer syntax 'JPEG-LS Lossless Image Compression' (1.2.840.10008.1.2.4.80) needs a plugin "
        "that is not installed: pylibjpeg - requires pylibjpeg and pylibjpeg-libjpeg; gdcm - requires gdcm."
    )


class InvalidRequestError(ServiceError):
    status, kind, title = 422, "invalid-request", "Invalid request"
    example = "query parameter 'gradcam': Input should be a valid boolean, unable to interpret input."


class MissingFileError(ServiceError):
    status, kind, title = 422, "missing-file", "No image in the request"
    example = "The multipart body has no part named 'file'; send the image in a field called 'file'."


class InvalidImageError(ServiceError):
    status, kind, title = 422, "invalid-image", "The image cannot be decoded"
    example = "The PNG file is truncated or corrupt (image file is truncated)."


class ImageTooSmallError(ServiceError):
    status, kind, title = 422, "image-too-small", "Image too small"
    example = "The image is 40x40 pixels; each side must be at least 64."


class OutOfScopeError(ServiceError):
    """Only with ``CXR_REJECT_OUT_OF_SCOPE=true``: the input assessment found no frontal chest X-ray."""

    status, kind, title = 422, "out-of-scope", "Not a frontal chest X-ray"
    example = (
        "The image is out of the model's scope (reasons: not_frontal_chest_xray); it answers only for "
        "frontal chest radiographs."
    )

    def __init__(self, detail: str, reasons: list[str]) -> None:
        super().__init__(detail)
        self.reasons = reasons


class ServiceUnavailableError(ServiceError):
    status = 503

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_s)})


class QueueFullError(ServiceUnavailableError):
    kind, title = "queue-full", "Server busy"
    example = "All 64 places in the inference queue are taken; retry after the Retry-After delay."


class NotReadyError(ServiceUnavailableError):
    kind, title = "not-ready", "Model not ready"
    example = "The model is still loading; retry after the Retry-After delay."


class DrainingError(ServiceUnavailableError):
    kind, title = "draining", "Shutting down"
    example = "This instance is shutting down and accepts no new work; retry on another instance."


class DeadlineExceededError(ServiceError):
    status, kind, title = 504, "deadline-exceeded", "Deadline exceeded"
    example = "No answer within the 30 s deadline; the work was dropped."


class ClientDisconnectedError(ServiceError):
    """The client went away; nobody reads this response, the status is for the logs (nginx's 499)."""

    status, kind, title = 499, "client-closed-request", "Client closed request"


DOCUMENTED_ERRORS: tuple[type[ServiceError], ...] = (
    MalformedRequestError,
    UnauthorizedError,
    PayloadTooLargeError,
    ImageTooLargeError,
    UnsupportedMediaTypeError,
    MissingDecoderError,
    InvalidRequestError,
    MissingFileError,
    InvalidImageError,
    ImageTooSmallError,
    OutOfScopeError,
    QueueFullError,
    NotReadyError,
    DrainingError,
    DeadlineExceededError,
    ServiceError,
)
"""Every problem a client can receive, for the OpenAPI document."""


def summarize(exc: BaseException) -> str:
    """A decoder's exception as one short line for a problem's detail (never logged: it may quote data)."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


def problem_response(
    request: Request,
    *,
    status: int,
    type_uri: str,
    title: str,
    detail: str,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    request_id = request_id_of(request)
    request.state.problem = type_uri.removeprefix(PROBLEM_TYPE_PREFIX)
    body: dict[str, Any] = {
        "type": type_uri,
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": request_id,
    }
    all_headers = {"X-Request-ID": request_id, **(headers or {})}
    return JSONResponse(body, status_code=status, headers=all_headers, media_type=PROBLEM_MEDIA_TYPE)


async def _on_service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return problem_response(
        request,
        status=exc.status,
        type_uri=exc.type_uri(),
        title=exc.title,
        detail=exc.detail,
        headers=exc.headers,
    )


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    """Routing errors (404, 405) raised by Starlette itself."""
    assert isinstance(exc, StarletteHTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if isinstance(exc.detail, str) else phrase
    return problem_response(
        request,
        status=exc.status_code,
        type_uri="about:blank",
        title=phrase,
        detail=detail,
        headers=exc.headers,
    )


def _describe_location(loc: tuple[int | str, ...]) -> str:
    if len(loc) >= 2 and loc[0] in {"query", "header", "path"}:
        return f"{loc[0]} parameter {'.'.join(map(str, loc[1:]))!r}"
    return ".".join(map(str, loc)) or "request"


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = "; ".join(f"{_describe_location(tuple(e['loc']))}: {e['msg']}" for e in exc.errors())
    return await _on_service_error(request, InvalidRequestError(detail or "invalid request"))


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled exception", exc_info=exc, extra={"error_type": type(exc).__name__})
    return await _on_service_error(request, ServiceError(ServiceError.example))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _on_service_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unexpected)
