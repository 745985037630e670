"""The OpenAPI document frontend teams build on: typed responses with examples, every error documented."""

from __future__ import annotations

from typing import Any

import pytest

from ml.model.checks import Reason
from tests.support.app import Service

pytestmark = pytest.mark.anyio

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


@pytest.fixture
async def schema(svc: Service) -> dict[str, Any]:
    response = await svc.client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in schema["paths"].items() for method, op in item.items()]


def has_example(schema: dict[str, Any], media: dict[str, Any]) -> bool:
    if "example" in media or "examples" in media:
        return True
    ref = media.get("schema", {}).get("$ref", "")
    return bool(ref) and "examples" in schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]


async def test_the_documented_operations_are_exactly_the_api(schema: dict[str, Any]) -> None:
    assert {(path, method) for path, method, _ in operations(schema)} == {
        ("/predict", "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/model", "get"),
    }


async def test_every_success_response_is_typed_and_has_an_example(schema: dict[str, Any]) -> None:
    for path, method, op in operations(schema):
        content = op["responses"]["200"]["content"]
        for media_type, media in content.items():
            assert "schema" in media or media_type == "text/plain", (path, method)
            assert has_example(schema, media), (path, method, media_type)


async def test_every_error_response_is_a_problem_with_examples(schema: dict[str, Any]) -> None:
    for path, method, op in operations(schema):
        errors = {status: r for status, r in op["responses"].items() if not status.startswith("2")}
        assert "500" in errors, (path, method)
        for status, response in errors.items():
            assert list(response["content"]) == ["application/problem+json"], (path, method, status)
            media = response["content"]["application/problem+json"]
            assert media["schema"] == PROBLEM_REF
            assert all(e["value"]["status"] == int(status) for e in media["examples"].values())


async def test_predict_documents_its_errors_and_headers(schema: dict[str, Any]) -> None:
    responses = schema["paths"]["/predict"]["post"]["responses"]

    assert set(responses) == {"200", "400", "401", "413", "415", "422", "500", "503", "504"}
    assert "Retry-After" in responses["503"]["headers"]
    assert set(responses["413"]["content"]["application/problem+json"]["examples"]) == {
        "payload-too-large",
        "image-too-large",
    }


async def test_predict_documents_multipart_and_the_raw_body_alternatives(schema: dict[str, Any]) -> None:
    body = schema["paths"]["/predict"]["post"]["requestBody"]

    assert body["required"] is True
    assert set(body["content"]) == {
        "multipart/form-data",
        "image/png",
        "image/jpeg",
        "application/dicom",
        "application/octet-stream",
    }
    form = body["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["file"]
    assert form["properties"]["file"]["format"] == "binary"
    parameters = {p["name"]: p for p in schema["paths"]["/predict"]["post"]["parameters"]}
    assert set(parameters) == {"gradcam", "X-FHIR-Subject", "X-CXR-Site"}
    assert (parameters["gradcam"]["in"], parameters["gradcam"]["schema"]["default"]) == ("query", True)
    assert parameters["X-FHIR-Subject"]["in"] == "header"
    site = parameters["X-CXR-Site"]
    assert (site["in"], site["required"]) == ("header", False)
    assert {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"} in site["schema"]["anyOf"]


async def test_readyz_documents_only_the_problems_it_can_answer(schema: dict[str, Any]) -> None:
    examples = schema["paths"]["/readyz"]["get"]["responses"]["503"]["content"]["application/problem+json"]

    assert set(examples["examples"]) == {"not-ready", "draining"}


async def test_problem_schema_and_security_schemes_are_components(schema: dict[str, Any]) -> None:
    components = schema["components"]

    assert set(components["schemas"]["Problem"]["required"]) == {
        "type",
        "title",
        "status",
        "detail",
        "request_id",
    }
    assert set(components["securitySchemes"]) == {"BearerKey", "ApiKeyHeader"}
    assert schema["paths"]["/predict"]["post"]["security"] == [{"BearerKey": []}, {"ApiKeyHeader": []}]
    assert "security" not in schema["paths"]["/healthz"]["get"]


async def test_prediction_schema_example_follows_the_contract(schema: dict[str, Any]) -> None:
    prediction = schema["components"]["schemas"]["PredictionResponse"]

    (example,) = prediction["examples"]
    assert (
        set(example)
        == set(prediction["required"])
        == {"label", "probabilities", "gradcam", "assessment", "model", "request_id"}
    )
    assert sum(example["probabilities"].values()) == pytest.approx(1.0)


async def test_assessment_reasons_are_an_enum_of_the_stable_codes(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    reasons = components["Assessment"]["properties"]["reasons"]["items"]

    assert components[reasons["$ref"].rsplit("/", 1)[-1]]["enum"] == [reason.value for reason in Reason]
