"""The log fields are declared once: the formatter's allow-list and the access line both follow it."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from fastapi import FastAPI, Request

from service.logs import ALLOWED_FIELDS, LOG_FIELDS, REQUEST_STATE_FIELDS, JsonFormatter, Source
from service.metrics import ServiceMetrics
from service.middleware import RequestContextMiddleware

pytestmark = pytest.mark.anyio


def _app_setting_state(**state: object) -> FastAPI:
    app = FastAPI()
    app.add_middleware(RequestContextMiddleware, metrics=ServiceMetrics())

    @app.get("/thing")
    async def thing(request: Request) -> dict[str, str]:
        for name, value in state.items():
            setattr(request.state, name, value)
        return {}

    return app


async def _access_line(app: FastAPI, caplog: pytest.LogCaptureFixture) -> dict[str, object]:
    caplog.set_level(logging.INFO, logger="service.access")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        await client.get("/thing")
    (record,) = [record for record in caplog.records if record.name == "service.access"]
    line: dict[str, object] = json.loads(JsonFormatter().format(record))
    return line


async def test_a_declared_request_state_field_reaches_the_access_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = _app_setting_state(assessment="low_confidence,unusual_for_training_data", image_kind="png")

    line = await _access_line(app, caplog)

    assert line["assessment"] == "low_confidence,unusual_for_training_data"
    assert line["image_kind"] == "png"


async def test_an_undeclared_request_state_value_stays_out_of_the_access_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = _app_setting_state(upload_filename="patient-name.png")

    line = await _access_line(app, caplog)

    assert "patient-name" not in json.dumps(line)


def test_the_allow_list_and_the_request_state_fields_derive_from_one_declaration() -> None:
    names = [field.name for field in LOG_FIELDS]

    assert len(names) == len(set(names))
    assert tuple(names) == ALLOWED_FIELDS
    assert set(REQUEST_STATE_FIELDS) <= set(ALLOWED_FIELDS)
    assert "assessment" in REQUEST_STATE_FIELDS
    assert {field.source for field in LOG_FIELDS} == set(Source)
