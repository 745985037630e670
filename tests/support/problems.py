"""What every error answer must look like: application/problem+json with the request's id."""

from __future__ import annotations

import httpx


def assert_problem(response: httpx.Response, status: int, kind: str, *detail_parts: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) == {"type", "title", "status", "detail", "request_id"}
    assert body["status"] == status
    assert body["type"] == (kind if kind == "about:blank" else f"urn:cxr-service:problem:{kind}")
    assert body["title"]
    assert body["request_id"] == response.headers["x-request-id"]
    for part in detail_parts:
        assert part in body["detail"]
