"""Every error path answers application/problem+json with an actionable detail; no client input is a 500."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable

import numpy as np
import pytest
from PIL import Image
from pydicom.uid import JPEGLSLossless

import service.pipeline
from ml.decoding import DecodeLimits
from service.errors import ServiceError
from service.pipeline import Pipeline
from service.settings import Settings
from tests.support.app import Service, serve
from tests.support.images import (
    dicom_bytes,
    encode,
    jpeg_bytes,
    multipart,
    pattern,
    png_bytes,
    png_claiming,
    to_uint8,
)
from tests.support.problems import assert_problem
from tests.support.weights import TEST_SPEC

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
async def limited(make_settings: Callable[..., Settings]) -> AsyncIterator[Service]:
    async with serve(make_settings(max_body_bytes=4096, max_pixels=100 * 100, min_side=32)) as running:
        yield running


async def test_body_over_the_limit_by_content_length_is_413(limited: Service) -> None:
    response = await limited.client.post(
        "/predict", content=b"\0" * 5000, headers={"content-type": "image/png"}
    )

    assert_problem(response, 413, "payload-too-large", "4096")


async def test_streamed_body_over_the_limit_without_content_length_is_413(limited: Service) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"\0" * 1000

    response = await limited.client.post("/predict", content=chunks(), headers={"content-type": "image/png"})

    assert_problem(response, 413, "payload-too-large", "4096")


async def test_decompression_bomb_is_413_before_decoding(limited: Service) -> None:
    # 2000 x 2000 black pixels compress to a few kilobytes but claim 4 megapixels.
    bomb = encode(Image.new("L", (2000, 2000)), "PNG", optimize=True)
    assert len(bomb) < 4096

    response = await limited.client.post("/predict", content=bomb, headers={"content-type": "image/png"})

    assert_problem(response, 413, "image-too-large", "2000x2000", "10000")


async def test_a_header_only_png_over_pillows_own_limit_gets_the_services_413_and_limit(
    limited: Service,
) -> None:
    response = await limited.client.post(
        "/predict", content=png_claiming(60000, 60000), headers={"content-type": "image/png"}
    )

    assert_problem(response, 413, "image-too-large", "60000x60000", "the limit is 10000.")
    assert "Pillow" not in response.json()["detail"]


async def test_dicom_claiming_too_many_pixels_is_413(limited: Service) -> None:
    data = dicom_bytes(np.zeros((4, 4), np.uint8), Rows=3000, Columns=3000)

    response = await limited.client.post(
        "/predict", content=data, headers={"content-type": "application/dicom"}
    )

    assert_problem(response, 413, "image-too-large", "3000x3000")


async def test_image_below_the_minimum_side_is_422(limited: Service) -> None:
    response = await limited.client.post("/predict", files=multipart(png_bytes(20, 64)))

    assert_problem(response, 422, "image-too-small", "64x20", "at least 32")


async def test_unrecognised_bytes_are_415(svc: Service) -> None:
    response = await svc.client.post("/predict", files=multipart(b"GIF89a" + b"\0" * 64, "x.gif"))

    assert_problem(response, 415, "unsupported-media-type", "neither PNG, JPEG nor DICOM")


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", None])
async def test_raw_body_with_another_content_type_is_415(svc: Service, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}

    response = await svc.client.post("/predict", content=png_bytes(), headers=headers)

    assert_problem(
        response,
        415,
        "unsupported-media-type",
        "multipart/form-data",
        "image/png",
        "application/octet-stream",
    )


async def test_compressed_dicom_without_an_installed_decoder_is_415_naming_the_plugins(svc: Service) -> None:
    from pydicom.pixels.decoders.base import get_decoder

    if get_decoder(JPEGLSLossless).is_available:
        pytest.skip("a JPEG-LS decoder is installed here")
    data = dicom_bytes(
        np.zeros((64, 64), np.uint8),
        transfer_syntax=JPEGLSLossless,
        encapsulated_frames=[b"\xff\xd8\xff\xd9"],
    )

    response = await svc.client.post("/predict", files=multipart(data, "x.dcm"))

    assert_problem(response, 415, "missing-decoder", "JPEG-LS Lossless", "pylibjpeg", "gdcm")


@pytest.mark.parametrize(
    ("data", "kind", "detail"),
    [
        (png_bytes()[:200], "invalid-image", "PNG"),
        (jpeg_bytes()[:300], "invalid-image", "JPEG"),
        (dicom_bytes(to_uint8(pattern()))[:600], "invalid-image", "DICOM"),
        (b"", "invalid-image", "empty"),
        (dicom_bytes(np.zeros((128, 64), np.uint8), Rows=64, NumberOfFrames=2), "invalid-image", "2 frames"),
    ],
    ids=["truncated-png", "truncated-jpeg", "truncated-dicom", "empty", "multi-frame-dicom"],
)
async def test_undecodable_images_are_422(svc: Service, data: bytes, kind: str, detail: str) -> None:
    response = await svc.client.post("/predict", files=multipart(data))

    assert_problem(response, 422, kind, detail)


async def test_multipart_without_a_file_field_is_422(svc: Service) -> None:
    response = await svc.client.post("/predict", files={"image": ("x.png", png_bytes(), "image/png")})

    assert_problem(response, 422, "missing-file", "'file'")


@pytest.mark.parametrize(
    ("body", "content_type", "detail"),
    [
        (
            b'--xyz\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc',
            "multipart/form-data; boundary=xyz",
            "truncated",
        ),
        (b"whatever", "multipart/form-data", "boundary"),
        (b"garbage without any boundary", "multipart/form-data; boundary=xyz", "could not be parsed"),
    ],
    ids=["truncated", "no-boundary-parameter", "no-parts"],
)
async def test_malformed_multipart_is_400(svc: Service, body: bytes, content_type: str, detail: str) -> None:
    response = await svc.client.post("/predict", content=body, headers={"content-type": content_type})

    assert_problem(response, 400, "malformed-request", detail)


async def test_two_file_parts_are_400(svc: Service) -> None:
    files = [("file", ("a.png", png_bytes(), "image/png")), ("file", ("b.png", png_bytes(), "image/png"))]

    response = await svc.client.post("/predict", files=files)

    assert_problem(response, 400, "malformed-request", "2 parts")


async def test_invalid_query_parameter_is_422(svc: Service) -> None:
    response = await svc.client.post("/predict", params={"gradcam": "perhaps"}, files=multipart(png_bytes()))

    assert_problem(response, 422, "invalid-request", "query parameter 'gradcam'")


async def test_unknown_route_is_404_and_wrong_method_405(svc: Service) -> None:
    assert_problem(await svc.client.get("/nowhere"), 404, "about:blank")
    assert_problem(await svc.client.get("/predict"), 405, "about:blank")


async def test_an_unexpected_failure_is_a_500_problem_never_a_4xx(
    svc: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("bug in the overlay")

    monkeypatch.setattr(service.pipeline, "render_overlay", broken)

    response = await svc.client.post("/predict", files=multipart(png_bytes()))

    assert_problem(response, 500, "internal-error")
    assert "bug in the overlay" not in response.text


async def test_a_failed_batch_fails_its_requests_with_500_and_the_worker_survives(
    svc: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("service.runner.ModelRunner.run", lambda *a, **k: 1 / 0)
    failed = await svc.client.post("/predict", files=multipart(png_bytes()))
    monkeypatch.undo()
    recovered = await svc.client.post("/predict", files=multipart(png_bytes()))

    assert_problem(failed, 500, "internal-error")
    assert recovered.status_code == 200


def mutations(data: bytes, count: int, seed: int) -> list[bytes]:
    """Truncations and byte flips of a valid file: the kind of damage real uploads suffer."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        buffer = bytearray(data)
        if i % 3 == 0:
            buffer = buffer[: rng.randrange(1, len(buffer))]
        for _ in range(rng.randrange(1, 8)):
            buffer[rng.randrange(8 if i % 2 else 0, len(buffer))] = rng.randrange(256)
        out.append(bytes(buffer))
    return out


def damaged_uploads() -> list[bytes]:
    pixels = to_uint8(pattern())
    originals = [
        png_bytes(),
        jpeg_bytes(),
        jpeg_bytes(progressive=True),
        dicom_bytes(pixels),
        dicom_bytes((pixels.astype(np.uint16) * 16), bits_stored=12, WindowCenter=2048, WindowWidth=4096),
        encode(Image.fromarray(pixels).convert("P"), "PNG"),
    ]
    return [damaged for seed, original in enumerate(originals) for damaged in mutations(original, 50, seed)]


def test_damaged_files_decode_or_fail_with_a_client_error() -> None:
    pipeline = Pipeline(DecodeLimits(max_pixels=10**7, min_side=16), TEST_SPEC, 96, 96)
    outcomes: set[str] = set()
    for damaged in damaged_uploads():
        try:
            pipeline.prepare("image/png", damaged, with_canvas=True)
            outcomes.add("decoded")
        except ServiceError as exc:
            assert 400 <= exc.status < 500
            outcomes.add(exc.kind)
    assert {"decoded", "invalid-image"} <= outcomes


async def test_damaged_uploads_never_cause_a_server_error(svc: Service) -> None:
    for damaged in damaged_uploads()[::10]:
        response = await svc.client.post("/predict", files=multipart(damaged))

        assert response.status_code in {200, 413, 415, 422}, (response.status_code, response.text)


async def test_png_with_a_corrupt_header_chunk_is_422(svc: Service) -> None:
    data = bytearray(png_bytes())
    data[16:24] = b"\xff" * 8  # width and height of the IHDR chunk, its CRC now wrong

    response = await svc.client.post("/predict", files=multipart(bytes(data)))

    assert_problem(response, 422, "invalid-image")
