"""Per-request context: request id, access log line and HTTP metrics, as plain ASGI middleware.

Plain ASGI (not ``BaseHTTPMiddleware``) so the request body and the client's disconnect notice reach the
route untouched. Logs and metrics name the route template, never the raw path, which could carry anything.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any, Final

from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.logs import REQUEST_STATE_FIELDS, request_id_var
from service.metrics import ServiceMetrics

logger = logging.getLogger("service.access")

_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_QUIET_ROUTES: Final = frozenset({"/healthz", "/readyz", "/metrics"})


def match_template(scope: Scope) -> str:
    """The top-level route or mount that will serve ``scope``, matched before routing rewrites the scope."""
    partial = "unmatched"
    for route in getattr(scope.get("app"), "routes", ()):
        path = getattr(route, "path", None)
        if not isinstance(route, BaseRoute) or not isinstance(path, str):
            continue
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return path or "/"
        if match is Match.PARTIAL and partial == "unmatched":
            partial = path
    return partial


def route_template(scope: Scope, matched: str) -> str:
    """FastAPI records the API route it chose in ``scope["route"]``; other routes were matched up front."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else matched


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        matched = match_template(scope)
        sizes = {"request_bytes": 0, "response_bytes": 0}
        status = 500

        async def receive_counted() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                sizes["request_bytes"] += len(message.get("body", b""))
            return message

        async def send_tagged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                if "x-request-id" not in headers:
                    headers.append("X-Request-ID", request_id)
            elif message["type"] == "http.response.body":
                sizes["response_bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive_counted, send_tagged)
        finally:
            route = route_template(scope, matched)
            self._record(scope.get("method", ""), route, state, status, time.perf_counter() - started, sizes)
            request_id_var.reset(token)

    def _record(
        self,
        method: str,
        route: str,
        state: dict[str, Any],
        status: int,
        elapsed: float,
        sizes: dict[str, int],
    ) -> None:
        self.metrics.requests.labels(method, route, str(status)).inc()
        self.metrics.latency.labels(method, route).observe(elapsed)
        fields: dict[str, Any] = {key: state[key] for key in REQUEST_STATE_FIELDS if key in state}
        level = logging.DEBUG if route in _QUIET_ROUTES and status < 400 else logging.INFO
        logger.log(
            level,
            "request",
            extra={
                "method": method,
                "route": route,
                "status": status,
                "latency_ms": round(elapsed * 1000, 2),
                **sizes,
                **fields,
            },
        )
