"""The public contract of the API, with the lifespan running: every field of every endpoint."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from ml.classes import CLASSES
from tests.support.app import Service
from tests.support.images import (
    dicom_bytes,
    jpeg_bytes,
    multipart,
    overlay_image,
    pattern,
    png_bytes,
    to_uint8,
)
from tests.support.problems import assert_problem
from tests.support.weights import TEST_SPEC, TEST_TEMPERATURE

pytestmark = pytest.mark.anyio


async def test_predict_multipart_png_answers_the_full_contract(svc: Service) -> None:
    response = await svc.client.post("/predict", files=multipart(png_bytes(64, 80)))

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"label", "probabilities", "gradcam", "assessment", "model", "request_id"}
    assert list(body["probabilities"]) == list(CLASSES)
    assert math.isclose(sum(body["probabilities"].values()), 1.0, abs_tol=1e-6)
    assert body["label"] == max(body["probabilities"], key=body["probabilities"].get)
    assert body["gradcam"]["target"] == body["label"]
    assert (body["gradcam"]["width"], body["gradcam"]["height"]) == (80, 64)
    overlay = overlay_image(body)
    assert (overlay.format, overlay.mode, overlay.size) == ("PNG", "RGB", (80, 64))
    assert body["model"] == {"name": "random-test-cnn", "version": "0.0.1-test", "sha256": svc.worker.sha256}
    assert body["request_id"] == response.headers["x-request-id"]
    assessment = body["assessment"]
    assert set(assessment) == {"in_scope", "uncertain", "reasons", "scores", "site"}
    assert (assessment["in_scope"], assessment["uncertain"], assessment["reasons"]) == (True, False, [])
    assert set(assessment["scores"]) == {"chest_xray", "typicality", "confidence", "familiarity"}
    assert 0.0 <= assessment["scores"]["familiarity"] <= 1.0
    assert set(assessment["site"]) == {"name", "answers", "window", "statistic", "unfamiliar"}
    assert math.isclose(assessment["scores"]["confidence"], max(body["probabilities"].values()), abs_tol=1e-4)


@pytest.mark.parametrize(
    ("data", "content_type"),
    [(png_bytes(), "image/png"), (jpeg_bytes(), "image/jpeg"), (None, "application/dicom")],
    ids=["png", "jpeg", "dicom"],
)
async def test_raw_body_is_accepted_for_each_image_type(
    svc: Service, data: bytes | None, content_type: str
) -> None:
    payload = data if data is not None else dicom_bytes(to_uint8(pattern()))

    response = await svc.client.post("/predict", content=payload, headers={"content-type": content_type})

    assert response.status_code == 200, response.text
    assert response.json()["gradcam"] is not None


@pytest.mark.parametrize("kind", ["png", "dicom"])
async def test_a_raw_body_declared_as_generic_binary_is_read_by_its_bytes(svc: Service, kind: str) -> None:
    payload = png_bytes() if kind == "png" else dicom_bytes(to_uint8(pattern()))

    response = await svc.client.post(
        "/predict", content=payload, headers={"content-type": "application/octet-stream"}
    )

    assert response.status_code == 200, response.text
    assert response.json()["gradcam"] is not None


async def test_generic_binary_that_is_not_an_accepted_image_is_415_by_its_bytes(svc: Service) -> None:
    response = await svc.client.post(
        "/predict", content=b"GIF89a" + b"\0" * 64, headers={"content-type": "application/octet-stream"}
    )

    assert_problem(response, 415, "unsupported-media-type", "neither PNG, JPEG nor DICOM")


async def test_a_multipart_part_without_a_content_type_is_read_by_its_bytes(svc: Service) -> None:
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="upload"\r\n\r\n'.encode()
        + png_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )

    response = await svc.client.post(
        "/predict", content=body, headers={"content-type": f"multipart/form-data; boundary={boundary}"}
    )

    assert response.status_code == 200, response.text


async def test_format_is_recognised_by_content_not_by_declared_type_or_name(svc: Service) -> None:
    dicom = dicom_bytes(to_uint8(pattern()))

    as_named_png = await svc.client.post("/predict", files=multipart(dicom, "scan.png", "image/png"))
    as_raw_jpeg = await svc.client.post("/predict", content=dicom, headers={"content-type": "image/jpeg"})

    assert as_named_png.status_code == as_raw_jpeg.status_code == 200
    assert as_named_png.json()["probabilities"] == as_raw_jpeg.json()["probabilities"]


async def test_same_image_in_png_and_dicom_gives_the_same_probabilities(svc: Service) -> None:
    pixels = to_uint8(pattern(72, 64, seed=3))
    png = Image.fromarray(pixels)

    from_png = await svc.client.post("/predict", files=multipart(encode_png(png)))
    from_dicom = await svc.client.post("/predict", files=multipart(dicom_bytes(pixels), "x.dcm"))

    for name, p in from_png.json()["probabilities"].items():
        assert from_dicom.json()["probabilities"][name] == pytest.approx(p, abs=1e-6)


def encode_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


async def test_gradcam_false_answers_null_overlay_and_the_same_probabilities(svc: Service) -> None:
    data = png_bytes(seed=5)

    with_cam = await svc.client.post("/predict", files=multipart(data))
    without = await svc.client.post("/predict", params={"gradcam": "false"}, files=multipart(data))

    assert without.status_code == 200
    assert without.json()["gradcam"] is None
    assert without.json()["probabilities"] == pytest.approx(with_cam.json()["probabilities"], abs=1e-6)


async def test_probabilities_are_softmax_of_logits_over_the_weights_temperature(svc: Service) -> None:
    import torch

    from ml.model import load_weights
    from ml.preprocessing import eval_transform

    pixels = pattern(64, 64, seed=9)
    response = await svc.client.post(
        "/predict", files=multipart(encode_png(Image.fromarray(to_uint8(pixels))))
    )

    image = torch.from_numpy(to_uint8(pixels).astype(np.float32) / 255)
    model = load_weights(svc.app.state.settings.weights_path).model
    with torch.no_grad():
        logits = model(eval_transform(image, TEST_SPEC)[None])
    expected = torch.softmax(logits / TEST_TEMPERATURE, dim=1)[0].tolist()
    assert list(response.json()["probabilities"].values()) == pytest.approx(expected, abs=1e-5)


async def test_overlay_keeps_aspect_and_caps_the_longest_side(svc: Service) -> None:
    # The test settings cap the overlay at 96 pixels.
    response = await svc.client.post("/predict", files=multipart(png_bytes(120, 300)))

    gradcam = response.json()["gradcam"]
    assert (gradcam["width"], gradcam["height"]) == (96, 38)
    assert overlay_image(response.json()).size == (96, 38)


async def test_healthz_and_readyz_answer_ok_once_started(svc: Service) -> None:
    health = await svc.client.get("/healthz")
    ready = await svc.client.get("/readyz")

    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready", "queue_depth": 0})


async def test_model_describes_the_loaded_weights(svc: Service) -> None:
    response = await svc.client.get("/model")

    body = response.json()
    assert response.status_code == 200
    assert body["classes"] == list(CLASSES)
    assert body["input"] == TEST_SPEC.to_dict()
    assert body["temperature"] == TEST_TEMPERATURE
    assert body["metrics"] == {"test": {"accuracy": 0.33}}
    assert (body["name"], body["version"], body["sha256"]) == (
        "random-test-cnn",
        "0.0.1-test",
        svc.worker.sha256,
    )
    assert body["architecture"] == "paper_cnn"
    assert body["device"] == "cpu"
    assert "not a medical device" in body["intended_use"]


async def test_metrics_expose_requests_latency_queue_batches_inference_and_model(svc: Service) -> None:
    labels = {"method": "POST", "route": "/predict", "status": "200"}
    before = svc.metric("cxr_http_requests_total", labels)
    await svc.client.post("/predict", files=multipart(png_bytes()))

    text = (await svc.client.get("/metrics")).text

    assert f'cxr_http_requests_total{{method="POST",route="/predict",status="200"}} {before + 1}' in text
    for name in (
        "cxr_http_request_duration_seconds_bucket",
        "cxr_inference_queue_depth",
        "cxr_inference_batch_size_bucket",
        "cxr_inference_batch_duration_seconds_count",
        "cxr_inference_queue_wait_seconds_count",
        "cxr_model_info{",
        "cxr_ready 1.0",
    ):
        assert name in text


async def test_unknown_paths_are_counted_under_one_label(svc: Service) -> None:
    labels = {"method": "GET", "route": "unmatched", "status": "404"}
    before = svc.metric("cxr_http_requests_total", labels)

    await svc.client.get("/patients/jane-doe.png")
    await svc.client.get("/studies/1234/series/5")

    assert svc.metric("cxr_http_requests_total", labels) == before + 2


async def test_a_valid_incoming_request_id_is_kept_and_an_invalid_one_replaced(svc: Service) -> None:
    kept = await svc.client.get("/healthz", headers={"x-request-id": "abc-123"})
    replaced = await svc.client.get("/healthz", headers={"x-request-id": "bad id\twith spaces"})

    assert kept.headers["x-request-id"] == "abc-123"
    assert replaced.headers["x-request-id"] != "bad id\twith spaces"
    assert len(replaced.headers["x-request-id"]) == 32


async def test_requests_are_counted_by_route_template_for_docs_and_wrong_methods(svc: Service) -> None:
    def count(method: str, route: str, status: str) -> float:
        return svc.metric("cxr_http_requests_total", {"method": method, "route": route, "status": status})

    before = [count("GET", "/docs", "200"), count("POST", "/healthz", "405")]

    await svc.client.get("/docs")
    await svc.client.post("/healthz")

    after = [count("GET", "/docs", "200"), count("POST", "/healthz", "405")]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1]
