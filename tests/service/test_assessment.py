"""Every answer carries its input assessment: in the body, the metrics, the logs, the 422 when asked."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from ml.classes import CLASSES
from ml.model.gate import Gate
from service.settings import Settings
from tests.support.app import Service, serve
from tests.support.gate import DOUBTING, REJECTING, TRUSTING, random_gate
from tests.support.images import dicom_bytes, encode, multipart, pattern, png_bytes, to_uint8
from tests.support.weights import write_random_weights

pytestmark = pytest.mark.anyio


def _weights(tmp_path: Path, gate: Gate | None) -> Path:
    return write_random_weights(tmp_path / "gated.safetensors", gate=gate)


@pytest.fixture
async def rejecting(tmp_path: Path, make_settings: Callable[..., Settings]) -> AsyncIterator[Service]:
    async with serve(make_settings(weights_path=_weights(tmp_path, random_gate(REJECTING)))) as running:
        yield running


async def test_an_out_of_scope_image_still_gets_probabilities_and_says_why(rejecting: Service) -> None:
    response = await rejecting.client.post("/predict", files=multipart(png_bytes()))

    assert response.status_code == 200
    body = response.json()
    assert body["assessment"]["in_scope"] is False
    assert body["assessment"]["uncertain"] is False
    assert body["assessment"]["reasons"][0] in {
        "not_frontal_chest_xray",
        "inverted_polarity",
        "wrong_orientation",
    }
    assert body["assessment"]["scores"]["chest_xray"] < 1.01
    assert sum(body["probabilities"].values()) == pytest.approx(1.0)
    assert rejecting.metric("cxr_assessments_total", {"outcome": "out_of_scope"}) >= 1


async def test_reject_setting_answers_out_of_scope_images_with_a_422_problem(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(
        weights_path=_weights(tmp_path, random_gate(REJECTING)), reject_out_of_scope=True
    )
    async with serve(settings) as running:
        response = await running.client.post("/predict", files=multipart(png_bytes()))

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:cxr-service:problem:out-of-scope"
    assert "reasons:" in problem["detail"]


async def test_low_confidence_makes_an_in_scope_answer_uncertain(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    async with serve(make_settings(weights_path=_weights(tmp_path, random_gate(DOUBTING)))) as running:
        response = await running.client.post("/predict", files=multipart(png_bytes()))
        counted = running.metric("cxr_assessment_reasons_total", {"reason": "low_confidence"})

    assessment = response.json()["assessment"]
    assert (assessment["in_scope"], assessment["uncertain"]) == (True, True)
    assert assessment["reasons"] == ["low_confidence"]
    assert counted == 1


async def test_weights_without_a_gate_mark_every_answer_gate_unavailable(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    async with serve(make_settings(weights_path=_weights(tmp_path, None))) as running:
        response = await running.client.post("/predict", files=multipart(png_bytes()))
        model = (await running.client.get("/model")).json()

    assessment = response.json()["assessment"]
    assert (assessment["in_scope"], assessment["uncertain"]) == (True, True)
    assert assessment["reasons"] == ["gate_unavailable"]
    assert assessment["scores"]["chest_xray"] is None
    assert model["gate"] is None


async def test_model_shows_the_gate_thresholds(svc: Service) -> None:
    gate = (await svc.client.get("/model")).json()["gate"]

    assert set(gate["thresholds"]) == {
        "min_chest_xray",
        "max_distance",
        "min_typicality",
        "min_confidence",
        "min_class_confidence",
    }


async def test_an_answer_is_uncertain_only_below_its_own_class_floor(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    floors = (1.01, 0.0, 1.01)  # only a Normal answer can be trusted
    gate = random_gate(replace(TRUSTING, min_class_confidence=floors))
    async with serve(make_settings(weights_path=_weights(tmp_path, gate))) as running:
        model = (await running.client.get("/model")).json()
        bodies = [
            (await running.client.post("/predict", files=multipart(png_bytes(seed=seed)))).json()
            for seed in range(4)
        ]

    assert model["gate"]["thresholds"]["min_class_confidence"] == dict(zip(CLASSES, floors, strict=True))
    for body in bodies:
        assert body["assessment"]["uncertain"] is (body["label"] != "Normal"), body["label"]
        assert body["assessment"]["reasons"] == ([] if body["label"] == "Normal" else ["low_confidence"])


async def test_a_colour_photograph_is_out_of_scope(svc: Service) -> None:
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 256, size=(96, 96, 3), dtype=np.uint8), mode="RGB")

    response = await svc.client.post("/predict", files=multipart(encode(photo, "PNG")))

    assert "colour_image" in response.json()["assessment"]["reasons"]


async def test_a_blank_image_is_out_of_scope(svc: Service) -> None:
    blank = Image.fromarray(np.full((80, 80), 128, dtype=np.uint8))

    response = await svc.client.post("/predict", files=multipart(encode(blank, "PNG")))

    assessment = response.json()["assessment"]
    assert assessment["in_scope"] is False
    assert "blank_image" in assessment["reasons"]


async def test_a_long_strip_has_an_unusual_aspect_ratio(svc: Service) -> None:
    response = await svc.client.post("/predict", files=multipart(png_bytes(64, 200)))

    assert "unusual_aspect_ratio" in response.json()["assessment"]["reasons"]


@pytest.mark.parametrize(
    ("tags", "reason"),
    [
        ({"Modality": "CT"}, "non_radiograph_modality"),
        ({"ViewPosition": "LL"}, "lateral_view"),
        ({"BodyPartExamined": "HAND"}, "other_body_part"),
    ],
)
async def test_dicom_acquisition_tags_say_when_it_is_not_a_frontal_chest_radiograph(
    svc: Service, tags: dict[str, Any], reason: str
) -> None:
    data = dicom_bytes(to_uint8(pattern()), **tags)

    response = await svc.client.post("/predict", content=data, headers={"content-type": "application/dicom"})

    assessment = response.json()["assessment"]
    assert assessment["in_scope"] is False
    assert reason in assessment["reasons"]


async def test_a_chest_dicom_in_posterior_anterior_view_passes_the_tag_checks(svc: Service) -> None:
    data = dicom_bytes(to_uint8(pattern()), ViewPosition="PA", BodyPartExamined="CHEST")

    response = await svc.client.post("/predict", content=data, headers={"content-type": "application/dicom"})

    assert response.json()["assessment"]["reasons"] == []


async def test_the_request_log_carries_the_reason_codes_only(
    tmp_path: Path, make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    async with serve(make_settings(weights_path=_weights(tmp_path, random_gate(DOUBTING)))) as running:
        with caplog.at_level(logging.INFO):
            await running.client.post("/predict", files=multipart(png_bytes()))

    logged = [getattr(record, "assessment", None) for record in caplog.records]
    assert "low_confidence" in logged
