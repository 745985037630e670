"""Schemathesis against the live ``/openapi.json`` of the real server, API keys on, every endpoint."""

from __future__ import annotations

from collections.abc import Callable

import anyio.to_thread
import pytest

import service.pipeline
from harness.live import LiveServer
from harness.threaded import ThreadServer
from service.settings import Settings

from .config import API_KEY
from .figures import record
from .fuzzing import fuzz

OPERATIONS = {"POST /predict", "GET /healthz", "GET /readyz", "GET /metrics", "GET /model"}
CI_EXAMPLES = 30
"""Generated cases per operation and mode in CI (plus the coverage cases): a few hundred in all."""


def test_schemathesis_finds_no_5xx_and_no_schema_violation_on_any_endpoint(live_server: LiveServer) -> None:
    report = fuzz(live_server.url, api_key=API_KEY, examples=CI_EXAMPLES, seed=0)
    record("schemathesis (CI)", report.summary())

    exercised = {key.rsplit(" ", 1)[0] for key in report.statuses}
    assert exercised == OPERATIONS, exercised
    assert report.cases >= 200
    # The fuzz reached the model (200 from /predict) and the authentication (401).
    assert report.statuses["POST /predict 200"] > 0
    assert report.status_totals()[401] > 0
    assert not report.failures, "\n\n".join(
        f"{f.operation} [{f.phase}]\n{f.message}" for f in report.failures
    )
    assert live_server.alive


@pytest.mark.anyio
async def test_the_fuzzer_reports_a_server_error_when_there_is_one(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The harness itself can fail: an overlay that breaks turns every accepted upload into a 500."""

    def broken(*args: object) -> None:
        raise RuntimeError("deliberately broken overlay")

    monkeypatch.setattr(service.pipeline, "render_overlay", broken)
    with ThreadServer(make_settings(api_keys=[API_KEY])) as server:
        report = await anyio.to_thread.run_sync(lambda: fuzz(server.url, api_key=API_KEY, examples=10))

    assert report.failures
    assert all(failure.operation == "POST /predict" for failure in report.failures)
    assert any("Server error" in failure.message for failure in report.failures), report.failures[0]
