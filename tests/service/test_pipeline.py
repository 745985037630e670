"""A request's preparation in one pass: one crop geometry for the model's input and the overlay."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np
import pytest

import ml.preprocessing_np
import service.pipeline
from ml.decoding import DecodeLimits
from ml.preprocess_spec import CropGeometry, crop_geometry
from service.pipeline import Pipeline
from tests.support.images import jpeg_bytes, png_bytes
from tests.support.weights import TEST_SPEC

PIPELINE = Pipeline(
    DecodeLimits(max_pixels=10**6, min_side=8), TEST_SPEC, scope_size=96, overlay_max_side=4096
)
SHAPES = [(64, 64), (90, 160), (200, 120), (73, 301)]


@dataclass(frozen=True)
class Call:
    args: tuple[object, ...]
    result: object


def spy(monkeypatch: pytest.MonkeyPatch, module: ModuleType, name: str) -> list[Call]:
    """Every call of ``module.name`` from now on, with what it returned."""
    calls: list[Call] = []
    real = getattr(module, name)

    def recording(*args: object) -> object:
        calls.append(Call(args, result := real(*args)))
        return result

    monkeypatch.setattr(module, name, recording)
    return calls


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

    pixels = service.pipeline.decode_upload(data, PIPELINE.limits).pixels
    assert np.array_equal(prepared.inputs, ml.preprocessing_np.eval_transform(pixels, TEST_SPEC))
