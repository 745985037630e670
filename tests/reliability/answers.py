"""What a correct answer looks like: a problem+json body for errors, the prediction contract for 200."""

from __future__ import annotations

import math

import httpx

from service.schemas import PredictionResponse

from .config import AUTH
from .corpus import BadInput

PROBLEM_FIELDS = {"type", "title", "status", "detail", "request_id"}


def answer_errors(response: httpx.Response, expected: BadInput) -> list[str]:
    """Why ``response`` is not the answer ``expected`` calls for (empty when it is)."""
    errors = []
    if response.status_code != expected.status:
        errors.append(f"status {response.status_code}, expected {expected.status}: {response.text[:300]}")
        return errors
    if expected.problem is None:
        try:
            body = PredictionResponse.model_validate_json(response.content)
        except ValueError as exc:
            return [f"200 body does not match the contract: {exc}"]
        if not math.isclose(sum(body.probabilities.values()), 1.0, abs_tol=1e-5):
            errors.append(f"probabilities sum to {sum(body.probabilities.values())}")
        if body.request_id != response.headers.get("x-request-id"):
            errors.append("request_id differs from the X-Request-ID header")
        return errors
    if response.headers.get("content-type") != "application/problem+json":
        return [f"content type {response.headers.get('content-type')!r}, expected application/problem+json"]
    problem = response.json()
    if set(problem) != PROBLEM_FIELDS:
        errors.append(f"problem fields {sorted(problem)}")
    if problem.get("type") != expected.problem_type:
        errors.append(f"problem type {problem.get('type')!r}, expected {expected.problem_type!r}")
    if problem.get("status") != expected.status:
        errors.append(f"problem status {problem.get('status')}")
    if not problem.get("title") or not problem.get("detail"):
        errors.append("empty title or detail")
    if problem.get("request_id") != response.headers.get("x-request-id"):
        errors.append("request_id differs from the X-Request-ID header")
    if "Traceback" in response.text:
        errors.append("a traceback in the body")
    return errors


async def health_errors(client: httpx.AsyncClient, probe: bytes) -> list[str]:
    """Why the service is not healthy: /healthz, /readyz and a valid /predict must all answer 200."""
    errors = []
    for path in ("/healthz", "/readyz"):
        response = await client.get(path)
        if response.status_code != 200:
            errors.append(f"{path} answered {response.status_code}")
    predicted = await client.post("/predict", content=probe, headers={**AUTH, "content-type": "image/png"})
    if predicted.status_code != 200:
        errors.append(f"a valid /predict answered {predicted.status_code}: {predicted.text[:300]}")
    return errors
