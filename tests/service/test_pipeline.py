"""A request's preparation in one pass: the upload's kind checked before any decoder runs, then one crop
geometry for the model's input and the overlay."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from PIL import Image

import ml.preprocessing_np
import service.pipeline
from ml.decoding import DecodeLimits, ImageKind
from ml.preprocess_spec import CropGeometry, crop_geometry
from service.errors import InvalidImageError, UnsupportedMediaTypeError
from service.pipeline import Pipeline
from service.upload import image_upload
from tests.support.images import encode, jpeg_bytes, multipart, pattern, png_bytes, to_uint8
from tests.support.spies import forbid_decoding, spy
from tests.support.weights import TEST_SPEC

PIPELINE = Pipeline(
    DecodeLimits(max_pixels=10**6, min_side=8), TEST_SPEC, scope_size=96, overlay_max_side=4096
)
SHAPES = [(64, 64), (90, 160), (200, 120), (73, 301)]
PICTURE = Image.fromarray(to_uint8(pattern(32, 32)))
UNACCEPTED = {
    "webp": encode(PICTURE, "WEBP"),
    "bmp": encode(PICTURE, "BMP"),
    "gif": encode(PICTURE, "GIF"),
    "text": b"not an image at all" * 10,
    "dicom-without-preamble": b"DICM" + png_bytes(),
}


def multipart_body(data: bytes) -> tuple[str, bytes]:
    """A multipart body whose ``file`` part is declared a PNG, whatever it holds."""
    request = httpx.Request("POST", "http://service/predict", files=multipart(data, "x.png", "image/png"))
    return request.headers["content-type"], request.read()


@pytest.mark.parametrize("in_multipart", [False, True], ids=["raw", "multipart"])
@pytest.mark.parametrize("name", sorted(UNACCEPTED))
def test_an_unaccepted_kind_is_refused_before_any_decoder_runs(
    name: str, in_multipart: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    forbid_decoding(monkeypatch)
    data = UNACCEPTED[name]
    content_type, body = multipart_body(data) if in_multipart else ("image/png", data)

    with pytest.raises(UnsupportedMediaTypeError, match="neither PNG, JPEG nor DICOM"):
        PIPELINE.prepare(content_type, body, with_canvas=True)


def test_an_empty_upload_is_refused_before_any_decoder_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_decoding(monkeypatch)

    with pytest.raises(InvalidImageError, match=r"empty \(0 bytes\)"):
        PIPELINE.prepare("image/png", b"", with_canvas=True)


@pytest.mark.parametrize("declared", ["image/jpeg", "application/dicom"])
def test_the_kind_is_what_the_first_bytes_show_not_what_was_declared(declared: str) -> None:
    assert image_upload(declared, png_bytes()).kind is ImageKind.PNG
    assert PIPELINE.prepare(declared, png_bytes(), with_canvas=False).kind is ImageKind.PNG


@pytest.mark.parametrize("with_canvas", [True, False])
def test_one_crop_geometry_per_request_cuts_the_model_input_and_places_the_overlay(
    with_canvas: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = spy(monkeypatch, service.pipeline, "crop_geometry")
    made_again = spy(monkeypatch, ml.preprocessing_np, "crop_geometry")
    inputs = spy(monkeypatch, service.pipeline, "eval_transform")
    canvases = spy(monkeypatch, service.pipeline, "make_canvas")

    PIPELINE.prepare("image/png", png_bytes(90, 160), with_canvas=with_canvas)

    assert len(made) == 1 and made_again == []
    geometry = made[0].result
    assert isinstance(geometry, CropGeometry) and (geometry.height, geometry.width) == (90, 160)
    assert [call.args[2] for call in inputs] == [geometry]
    assert [call.args[1] for call in canvases] == ([geometry] if with_canvas else [])


@pytest.mark.parametrize(("height", "width"), SHAPES)
def test_the_overlay_box_is_the_crop_the_model_input_was_cut_from(height: int, width: int) -> None:
    prepared = PIPELINE.prepare("image/png", png_bytes(height, width), with_canvas=True)

    assert prepared.canvas is not None
    assert prepared.canvas.base.shape == (height, width)  # under overlay_max_side: not scaled
    assert prepared.canvas.box == crop_geometry(height, width, TEST_SPEC).box


@pytest.mark.parametrize(("height", "width"), SHAPES)
def test_the_model_input_is_the_reference_preprocessing_bit_for_bit(height: int, width: int) -> None:
    data = jpeg_bytes(height, width)
    prepared = PIPELINE.prepare("image/jpeg", data, with_canvas=True)

    pixels = service.pipeline.decode_upload(image_upload("image/jpeg", data), PIPELINE.limits).pixels
    assert np.array_equal(prepared.inputs, ml.preprocessing_np.eval_transform(pixels, TEST_SPEC))
