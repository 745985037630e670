"""Privacy: a marker in file names, DICOM patient fields, paths, queries and headers, sent through every
endpoint of the real server, never appears in its log output (stdout and stderr, at DEBUG) or in any
response (error bodies included).

Two things a client chooses are echoed on purpose, and no marker is put there: its own ``X-Request-ID``
(logged and returned, for correlation) and an unaccepted ``Content-Type`` (quoted in the 415's detail).
"""

from __future__ import annotations

import random
import re
from typing import Any

import httpx
import pytest

from harness.live import LiveServer
from tests.support.images import dicom_bytes, multipart, pattern, png_bytes, to_uint8

from .config import AUTH
from .corpus import dicom_claiming_syntax
from .figures import record

pytestmark = pytest.mark.anyio

MARKER = "Qx9PRIVACYmark"
CONTROL = "Cz4CONTROLmark"
"""Sent as the X-Request-ID, which is logged by design: proof that the capture sees per-request data."""


def patient_dicom(**elements: Any) -> bytes:
    return dicom_bytes(
        to_uint8(pattern()),
        patient_name=f"{MARKER}^Jane^{MARKER}",
        patient_id=f"ID-{MARKER}",
        **{"PatientBirthDate": "19700101", "InstitutionName": MARKER, "StudyDescription": MARKER, **elements},
    )


def damaged(data: bytes, count: int, seed: int) -> list[bytes]:
    """Truncations and byte flips around the patient elements, where a parser's message could quote them."""
    rng = random.Random(seed)
    at = data.index(MARKER.encode())
    out = [data[:cut] for cut in range(at - 40, at + 60, 9)]
    for _ in range(count):
        buffer = bytearray(data)
        for _ in range(rng.randrange(1, 5)):
            buffer[rng.randrange(132, min(len(buffer), at + 200))] = rng.randrange(256)
        out.append(bytes(buffer))
    return out


def leaked(text: str) -> bool:
    return MARKER.lower() in text.lower()


async def test_a_marker_in_names_patient_fields_paths_and_headers_never_reaches_logs_or_answers(
    live_server: LiveServer,
) -> None:
    mark = live_server.mark()
    dicom = patient_dicom()
    name = f"{MARKER}.dcm"
    raw_dicom = {**AUTH, "content-type": "application/dicom"}
    noisy = {**AUTH, "User-Agent": MARKER, "X-Patient-Name": MARKER, "Referer": f"http://x/{MARKER}"}
    async with httpx.AsyncClient(base_url=live_server.url, timeout=60) as client:
        sends = [
            # /predict: accepted, every way it can be sent.
            client.post("/predict", files=multipart(png_bytes(), f"{MARKER}.png"), headers=noisy),
            client.post("/predict", files=multipart(dicom, name, "application/dicom"), headers=AUTH),
            client.post("/predict", content=dicom, headers=raw_dicom),
            client.post("/predict?gradcam=false", files=multipart(dicom, name), headers=AUTH),
            client.post(
                "/predict",
                files=multipart(patient_dicom(PhotometricInterpretation="MONOCHROME1"), name),
                headers=AUTH,
            ),
            # /predict: refused, with the marker in the upload or the request.
            client.post(
                "/predict", files=multipart(patient_dicom(WindowCenter=10, WindowWidth=0), name), headers=AUTH
            ),
            client.post("/predict", files=multipart(dicom[:-300], name), headers=AUTH),
            client.post("/predict", content=dicom[:700], headers=raw_dicom),
            client.post("/predict", files=multipart(patient_dicom(NumberOfFrames=3), name), headers=AUTH),
            client.post(
                "/predict", files=multipart(dicom_claiming_syntax("1.2.3.4.5.6.7.8.9.10"), name), headers=AUTH
            ),
            client.post("/predict", files=multipart(MARKER.encode() * 10, name), headers=AUTH),
            client.post("/predict", files=multipart(png_bytes(8, 8), f"{MARKER}.png"), headers=AUTH),
            client.post("/predict", files={MARKER: (name, dicom, "application/dicom")}, headers=AUTH),
            client.post(
                "/predict", files=[("file", (name, dicom, "x")), ("file", (name, dicom, "x"))], headers=AUTH
            ),
            client.post("/predict", content=dicom * 60, headers=raw_dicom),
            client.post(
                "/predict",
                content=dicom,
                headers={**AUTH, "content-type": f"multipart/form-data; boundary={MARKER}"},
            ),
            client.post(f"/predict?gradcam={MARKER}", files=multipart(dicom, name), headers=AUTH),
            client.post(f"/predict?{MARKER}=1", files=multipart(dicom, name), headers=AUTH),
            client.post(
                "/predict", files=multipart(dicom, name), headers={"Authorization": f"Bearer {MARKER}"}
            ),
            client.post("/predict", files=multipart(dicom, name), headers={"X-API-Key": MARKER}),
            # Every other endpoint, with the marker in the query, the headers, or a wrong key.
            client.get(f"/healthz?patient={MARKER}", headers=noisy),
            client.get(f"/readyz?patient={MARKER}", headers=noisy),
            client.get(f"/model?patient={MARKER}", headers=noisy),
            client.get("/model", headers={"X-API-Key": MARKER}),
            client.get(f"/metrics?patient={MARKER}", headers=noisy),
            client.get("/metrics", headers={"Authorization": f"Bearer {MARKER}"}),
            client.get(f"/openapi.json?patient={MARKER}", headers=noisy),
            client.get(f"/docs?patient={MARKER}", headers=noisy),
            client.get(f"/?patient={MARKER}", headers=noisy),
            client.get(f"/static/{MARKER}.js", headers=noisy),
            client.get(f"/studies/{MARKER}/image.png", headers=noisy),
            client.post(f"/model/{MARKER}", content=dicom, headers=noisy),
            client.put("/predict", content=dicom, headers=noisy),
        ]
        responses = [await send for send in sends]
        for data in damaged(dicom, 40, seed=1):
            responses.append(await client.post("/predict", files=multipart(data, name), headers=AUTH))
        control = await client.post(
            "/predict", files=multipart(dicom, name), headers={**AUTH, "X-Request-ID": CONTROL}
        )
        metrics = await client.get("/metrics", headers=AUTH)
        # Everything sent has been logged once its answer is in; one more request flushes the pipe.
        await client.get("/healthz")

    statuses = [response.status_code for response in responses]
    errors = [r for r in responses if r.status_code >= 400]
    output = live_server.output_since(mark)
    access = [
        line
        for line in live_server.json_logs(since=mark)
        if line.get("logger") == "service.access" and line.get("route") == "/predict"
    ]
    record(
        "privacy",
        f"{len(responses)} requests with the marker ({sum(s == 200 for s in statuses)} answered 200, "
        f"{len(errors)} errors): marker in 0 of {len(output.splitlines())} log lines and 0 responses",
    )

    assert control.status_code == 200
    assert CONTROL in output, "the log capture missed a request's own id: it proves nothing"
    assert not any(status >= 500 for status in statuses), statuses
    assert statuses[:5] == [200] * 5, statuses[:5]
    assert len(errors) >= 30
    # The capture works: the access log has a line for each /predict, at least.
    assert len(access) >= sum(1 for r in responses if r.request.url.path == "/predict")
    assert not leaked(output), [line for line in output.splitlines() if leaked(line)][:5]
    for response in responses:
        assert not leaked(response.text), (response.request.url, response.text[:300])
        assert not any(leaked(value) for value in response.headers.values()), response.headers
    assert not leaked(metrics.text)
    assert not re.search(r"Jane", output + metrics.text)
    assert all(r.headers.get("x-request-id") for r in responses)
