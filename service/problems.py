"""The one place that turns any failure into ``application/problem+json`` (RFC 9457).

A :class:`~service.errors.ServiceError` becomes its own problem type. Anything else that escapes a route
is a bug: it is logged with its traceback and answered with a 500, never with a 4xx.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.errors import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_PREFIX, InvalidRequestError, ServiceError

logger = logging.getLogger(__name__)


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
