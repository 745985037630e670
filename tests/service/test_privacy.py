"""Logs are JSON lines with the request's facts and never an upload's name, bytes or patient fields."""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Iterator

import pytest

from service.logs import JsonFormatter
from tests.support.app import Service
from tests.support.images import dicom_bytes, multipart, pattern, png_bytes, to_uint8

pytestmark = pytest.mark.anyio

MARKER = "Zq7MARKERx3"


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """What the service's own JSON handler would print, at DEBUG."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root, client = logging.getLogger(), logging.getLogger("httpx")
    levels = root.level, client.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    # The test's own HTTP client logs the URLs it calls; it is not the service.
    client.setLevel(logging.WARNING)
    yield stream
    root.removeHandler(handler)
    root.setLevel(levels[0])
    client.setLevel(levels[1])


def fhir(subject: str) -> dict[str, str]:
    return {"accept": "application/fhir+json", "x-fhir-subject": subject}


async def test_file_names_and_patient_fields_never_reach_the_logs(
    svc: Service, json_log: io.StringIO, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    pixels = to_uint8(pattern())
    patient = {
        # Over PN's 64 characters: an invalid value, which pydicom's validation would quote.
        "patient_name": f"{MARKER}^{'Long' * 20}",
        "patient_id": f"ID-{MARKER}",
        "PatientBirthDate": "1970MARK",
        "InstitutionName": MARKER,
    }
    dicom = dicom_bytes(pixels, **patient)  # type: ignore[arg-type]
    broken_dicom = dicom_bytes(pixels, **patient, WindowCenter=1, WindowWidth=0)  # type: ignore[arg-type]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        responses = [
            await svc.client.post("/predict", files=multipart(png_bytes(), f"{MARKER}.png")),
            await svc.client.post("/predict", files=multipart(dicom, f"{MARKER}.dcm", "application/dicom")),
            await svc.client.post("/predict", content=dicom, headers={"content-type": "application/dicom"}),
            await svc.client.post("/predict", files=multipart(broken_dicom, f"{MARKER}.dcm")),
            await svc.client.post("/predict", files=multipart(dicom[:-300], f"{MARKER}.dcm")),
            await svc.client.post(
                f"/predict?gradcam={MARKER}", files=multipart(png_bytes(), f"{MARKER}.png")
            ),
            await svc.client.get(f"/studies/{MARKER}/image.png"),
            # The FHIR answer's subject: a patient reference, valid or not.
            await svc.client.post(
                "/predict", files=multipart(png_bytes()), headers=fhir(f"Patient/{MARKER}")
            ),
            await svc.client.post("/predict", files=multipart(png_bytes()), headers=fhir(f"{MARKER} Smith")),
        ]

    assert [r.status_code for r in responses] == [200, 200, 200, 422, 422, 422, 404, 200, 422]
    output = capfd.readouterr()
    records = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    for where, text in {
        "json log": json_log.getvalue(),
        "log records": records,
        "stdout": output.out,
        "stderr": output.err,
        "warnings": "\n".join(str(w.message) for w in caught),
    }.items():
        assert MARKER not in text, f"{MARKER} leaked into the {where}"
        assert "Long" * 4 not in text, f"the patient name leaked into the {where}"


async def test_access_log_is_one_json_line_per_request_with_its_facts(
    svc: Service, json_log: io.StringIO
) -> None:
    data = png_bytes(80, 64)

    response = await svc.client.post("/predict", files=multipart(data))

    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "service.access"]
    assert len(access) == 1
    entry = access[0]
    assert entry["request_id"] == response.headers["x-request-id"]
    assert (entry["method"], entry["route"], entry["status"]) == ("POST", "/predict", 200)
    assert entry["latency_ms"] > 0
    assert entry["request_bytes"] > len(data)
    assert entry["response_bytes"] == len(response.content)
    assert (entry["device"], entry["image_kind"], entry["image_width"], entry["image_height"]) == (
        "cpu",
        "png",
        64,
        80,
    )
    assert entry["batch_size"] == 1
    assert {"queue_ms", "inference_ms", "ts", "level", "message"} <= set(entry)


async def test_error_responses_are_logged_with_their_problem_type(
    svc: Service, json_log: io.StringIO
) -> None:
    await svc.client.post("/predict", content=b"nonsense", headers={"content-type": "image/png"})

    (entry,) = [json.loads(line) for line in json_log.getvalue().splitlines() if "service.access" in line]
    assert (entry["status"], entry["problem"]) == (415, "unsupported-media-type")


def test_log_fields_outside_the_allow_list_are_dropped() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    record.filename_of_upload = MARKER
    record.status = 200

    entry = json.loads(JsonFormatter().format(record))

    assert MARKER not in json.dumps(entry)
    assert entry["status"] == 200
