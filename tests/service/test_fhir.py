"""``Accept: application/fhir+json`` on /predict: a FHIR R4 DiagnosticReport that a FHIR library validates and
that says what the JSON answer says; JSON stays the default, errors stay problem+json.

Validated with ``fhir.resources``' R4B models (FHIR 4.3): the release of that library that has R4 (4.0.1)
itself needs pydantic 1. R4B changed none of the elements used here (DiagnosticReport, Observation and its
component, Device, Attachment and the data types), and the codes of R4's required bindings are checked
below against R4's own value sets.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from ml.classes import CLASSES
from ml.model.gate import Thresholds
from service.negotiation import example_report, wants_fhir
from service.settings import Settings
from tests.support.app import Service, serve
from tests.support.gate import ALARMED, DOUBTING, REJECTING, random_gate
from tests.support.images import multipart, png_bytes
from tests.support.problems import assert_problem
from tests.support.weights import write_random_weights

DiagnosticReport = pytest.importorskip(
    "fhir.resources.R4B.diagnosticreport", reason="the FHIR tests need fhir.resources (the dev extra)"
).DiagnosticReport

pytestmark = pytest.mark.anyio

FHIR = {"accept": "application/fhir+json"}
# R4's required bindings, from the specification's value sets (hl7.org/fhir/R4).
R4_REPORT_STATUS = {"registered", "partial", "preliminary", "final", "amended", "corrected", "appended"}
R4_REPORT_STATUS |= {"cancelled", "entered-in-error", "unknown"}
R4_OBSERVATION_STATUS = {"registered", "preliminary", "final", "amended", "corrected", "cancelled"}
R4_OBSERVATION_STATUS |= {"entered-in-error", "unknown"}
R4_DEVICE_NAME_TYPE = {"udi-label-name", "user-friendly-name", "patient-reported-name", "manufacturer-name"}
R4_DEVICE_NAME_TYPE |= {"model-name", "other"}


def validated(report: dict[str, Any]) -> dict[str, Any]:
    """``report`` after the FHIR library's validation, and with R4's required codes checked."""
    DiagnosticReport.model_validate(report)
    assert report["status"] in R4_REPORT_STATUS
    assert report["text"]["status"] == "generated"
    for resource in report["contained"]:
        if resource["resourceType"] == "Observation":
            assert resource["status"] in R4_OBSERVATION_STATUS
        else:
            assert resource["resourceType"] == "Device"
            assert {name["type"] for name in resource["deviceName"]} <= R4_DEVICE_NAME_TYPE
    return report


def contained(report: dict[str, Any], identifier: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in report["contained"] if r["id"] == identifier)
    return found


def codes(concept: dict[str, Any]) -> set[tuple[str, str]]:
    return {(coding["system"], coding["code"]) for coding in concept["coding"]}


async def test_fhir_answer_is_a_valid_r4_diagnostic_report_saying_what_the_json_answer_says(
    svc: Service,
) -> None:
    image = png_bytes(80, 72)
    json_answer = (await svc.client.post("/predict", files=multipart(image))).json()

    response = await svc.client.post("/predict", files=multipart(image), headers=FHIR)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/fhir+json; fhirVersion=4.0"
    assert response.headers["vary"] == "Accept"
    report = validated(response.json())
    assert report["resourceType"] == "DiagnosticReport"
    assert report["status"] == "preliminary"
    assert codes(report["code"]) == {("http://loinc.org", "36554-4")}
    assert report["id"] == response.headers["x-request-id"]
    assert "subject" not in report
    assert json_answer["label"] in report["conclusion"]
    assert ("urn:cxr-service:class", json_answer["label"]) in codes(report["conclusionCode"][0])

    observations = [contained(report, ref["reference"][1:]) for ref in report["result"]]
    probabilities = {o["code"]["coding"][0]["code"]: o["valueQuantity"]["value"] for o in observations[:-1]}
    assert probabilities == pytest.approx(json_answer["probabilities"], abs=1e-12)
    assert list(probabilities) == list(CLASSES)
    assessment = observations[-1]
    components = {c["code"]["coding"][0]["code"]: c for c in assessment["component"]}
    assert components["in-scope"]["valueBoolean"] is json_answer["assessment"]["in_scope"]
    assert components["uncertain"]["valueBoolean"] is json_answer["assessment"]["uncertain"]
    scores = json_answer["assessment"]["scores"]
    assert components["score-confidence"]["valueQuantity"]["value"] == pytest.approx(scores["confidence"])

    device = contained(report, "model")
    assert device["deviceName"] == [{"name": json_answer["model"]["name"], "type": "model-name"}]
    assert device["version"] == [{"value": json_answer["model"]["version"]}]
    assert device["identifier"][0]["value"] == json_answer["model"]["sha256"]
    assert all(o["device"] == {"reference": "#model"} for o in observations)

    (overlay,) = report["presentedForm"]
    png = base64.b64decode(overlay["data"])
    assert overlay["contentType"] == "image/png" and png.startswith(b"\x89PNG\r\n\x1a\n")
    assert overlay["size"] == len(png)


async def test_the_subject_is_only_the_reference_the_client_sent(svc: Service) -> None:
    headers = FHIR | {"x-fhir-subject": "Patient/pat-0042"}

    report = validated(
        (await svc.client.post("/predict", files=multipart(png_bytes()), headers=headers)).json()
    )

    assert report["subject"] == {"reference": "Patient/pat-0042"}
    assert all(
        r.get("subject") == report["subject"] for r in report["contained"] if r["resourceType"] != "Device"
    )


@pytest.mark.parametrize("subject", ["Patient/ab_c", "Practitioner/7", "John Smith", "Patient/1 2"])
async def test_a_subject_that_is_no_fhir_reference_is_422_without_echoing_it(
    svc: Service, subject: str
) -> None:
    response = await svc.client.post(
        "/predict", files=multipart(png_bytes()), headers=FHIR | {"x-fhir-subject": subject}
    )

    assert_problem(response, 422, "invalid-request", "X-FHIR-Subject", "Patient/123")
    assert subject not in response.json()["detail"]


async def test_errors_stay_problem_json_when_fhir_is_asked_for(svc: Service) -> None:
    response = await svc.client.post("/predict", files=multipart(b"GIF89a" + b"\0" * 64), headers=FHIR)

    assert_problem(response, 415, "unsupported-media-type")


async def test_without_gradcam_the_report_has_no_presented_form(svc: Service) -> None:
    response = await svc.client.post("/predict?gradcam=false", files=multipart(png_bytes()), headers=FHIR)

    assert "presentedForm" not in validated(response.json())


@pytest.mark.parametrize(
    "accept", [None, "*/*", "application/json", "application/fhir+json;q=0.5, application/json", "text/html"]
)
async def test_json_stays_the_default(svc: Service, accept: str | None) -> None:
    headers = {"accept": accept} if accept else {}

    response = await svc.client.post("/predict", files=multipart(png_bytes()), headers=headers)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["vary"] == "Accept"
    assert set(response.json()) >= {"label", "probabilities", "assessment"}


@pytest.mark.parametrize(
    ("accept", "fhir"),
    [
        ("application/fhir+json", True),
        ("application/fhir+json; fhirVersion=4.0", True),
        ("application/json, application/fhir+json", True),
        ("application/fhir+json, */*;q=0.1", True),
        ("application/fhir+json;q=0.9, application/json", False),
        ("application/fhir+json;q=0, */*", False),
        ("application/*", False),
        ("*/*", False),
        (None, False),
    ],
)
def test_fhir_is_chosen_only_when_named_and_rated_at_least_as_high_as_json(
    accept: str | None, fhir: bool
) -> None:
    assert wants_fhir(accept) is fhir


async def _report_from_gate(tmp_path: Path, make_settings: Callable[..., Settings], gate: Thresholds) -> Any:
    weights = write_random_weights(tmp_path / "gated.safetensors", gate=random_gate(gate))
    async with serve(make_settings(weights_path=weights)) as running:
        response = await running.client.post("/predict", files=multipart(png_bytes()), headers=FHIR)
    return validated(response.json())


async def test_an_image_out_of_scope_gets_no_class_code_only_out_of_scope(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    report = await _report_from_gate(tmp_path, make_settings, REJECTING)

    assert [codes(concept) for concept in report["conclusionCode"]] == [
        {("urn:cxr-service:assessment", "out-of-scope")}
    ]
    assert report["conclusion"].startswith("No reading: the image is outside the model's scope")
    reasons = [
        c for c in contained(report, "assessment")["component"] if c["code"]["coding"][0]["code"] == "reason"
    ]
    assert reasons and reasons[0]["valueCodeableConcept"]["coding"][0]["system"] == "urn:cxr-service:reason"


async def test_an_uncertain_answer_says_so_beside_its_class(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    report = await _report_from_gate(tmp_path, make_settings, DOUBTING)

    class_code, uncertain = report["conclusionCode"]
    assert {system for system, _ in codes(class_code)} == {"urn:cxr-service:class", "http://snomed.info/sct"}
    assert codes(uncertain) == {("urn:cxr-service:assessment", "uncertain")}
    assert "uncertain (low_confidence)" in report["conclusion"]


async def test_an_unfamiliar_site_is_in_the_report_as_reason_and_site_components(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    weights = write_random_weights(tmp_path / "w.safetensors", gate=random_gate(monitor=ALARMED))
    headers = {**FHIR, "X-CXR-Site": "ward-7"}
    async with serve(make_settings(weights_path=weights)) as running:
        for _ in range(ALARMED.window):
            response = await running.client.post("/predict", files=multipart(png_bytes()), headers=headers)

    report = validated(response.json())
    components = contained(report, "assessment")["component"]
    by_code = {c["code"]["coding"][0]["code"]: c for c in components}
    reasons = [
        c["valueCodeableConcept"]["coding"][0]["code"] for c in components if "valueCodeableConcept" in c
    ]
    assert reasons == ["unfamiliar_source"]
    assert by_code["site-unfamiliar"]["valueBoolean"] is True
    assert 0 <= by_code["site-statistic"]["valueQuantity"]["value"] <= 1
    assert "uncertain (unfamiliar_source)" in report["conclusion"]


@pytest.fixture(scope="module")
async def ungated(
    make_settings: Callable[..., Settings], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Service]:
    weights = write_random_weights(tmp_path_factory.mktemp("ungated") / "w.safetensors", gate=None)
    async with serve(make_settings(weights_path=weights)) as running:
        yield running


async def test_scores_the_weights_cannot_give_are_marked_absent(ungated: Service) -> None:
    response = await ungated.client.post("/predict", files=multipart(png_bytes()), headers=FHIR)

    components = {
        c["code"]["coding"][0]["code"]: c
        for c in contained(validated(response.json()), "assessment")["component"]
    }
    absent = components["score-chest-xray"]["dataAbsentReason"]["coding"][0]
    assert (absent["system"], absent["code"]) == (
        "http://terminology.hl7.org/CodeSystem/data-absent-reason",
        "not-performed",
    )


async def test_openapi_documents_the_fhir_answer_with_a_valid_example(svc: Service) -> None:
    schema = (await svc.client.get("/openapi.json")).json()
    ok = schema["paths"]["/predict"]["post"]["responses"]["200"]["content"]

    assert set(ok) == {"application/json", "application/fhir+json"}
    example = validated(ok["application/fhir+json"]["example"])
    assert example == example_report()
    assert example["subject"] == {"reference": "Patient/example"}
    headers = {p["name"] for p in schema["paths"]["/predict"]["post"]["parameters"] if p["in"] == "header"}
    assert "X-FHIR-Subject" in headers
