"""The service's numpy preprocessing against the torch reference (ml/preprocessing.py) it must equal.

Measured (generated images here; 20 of the shared X-rays in the slow test): with ``none`` and
``percentile`` the largest absolute difference of the model's input is 1.5e-5 (6e-7 on the X-rays): Pillow
accumulates the antialiased resize in double precision, torch in float. ``equalize`` rounds each pixel to
one of 256 bins, and a pixel that lies within that float rounding of a bin edge (common in 8-bit images
scaled up: x * 255 lands on k + 0.5) can fall in the neighbouring bin, which moves the mid-rank of the
pixels of both bins: on the X-rays a mean absolute difference of 7e-5, a 99th percentile of 3e-4 and a
largest difference of 0.07 (normalised units, the range is [-1, 1]). The service's answers on them are
compared in ``tests/service/test_torch_free.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ml import preprocessing, preprocessing_np
from ml.data import decode_gray
from ml.model.scope import scope_input
from ml.preprocess_spec import STANDARDIZE, PreprocessSpec, crop_geometry
from tests.support.images import pattern

CLOSE = 5e-5
"""Largest difference allowed where no bin edge is crossed."""
EQUALIZE_MEAN = 2e-4
EQUALIZE_P99 = 1e-3
"""``equalize``'s bound on the mean and the 99th percentile of the absolute difference."""
SHAPES = [(300, 400), (500, 256), (100, 90), (257, 1031), (224, 224)]


def xray_like(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth gradient with texture and noise: many distinct intensities, like a radiograph."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    smooth = 0.5 + 0.3 * np.sin(7 * x + seed) * np.cos(5 * y) + 0.1 * pattern(height, width, seed)
    image: np.ndarray = np.clip(smooth + 0.03 * rng.standard_normal((height, width)), 0, 1)
    return image.astype(np.float32)


def assert_same_input(ours: np.ndarray, theirs: np.ndarray, standardize: str) -> None:
    assert ours.shape == theirs.shape and ours.dtype == np.float32
    difference = np.abs(ours - theirs)
    if standardize == "equalize":
        assert float(difference.mean()) <= EQUALIZE_MEAN
        assert float(np.percentile(difference, 99)) <= EQUALIZE_P99
    else:
        assert float(difference.max()) <= CLOSE


@pytest.mark.parametrize("standardize", STANDARDIZE)
@pytest.mark.parametrize(("height", "width"), SHAPES)
def test_numpy_preprocessing_equals_the_torch_reference(height: int, width: int, standardize: str) -> None:
    spec = PreprocessSpec(standardize=standardize)
    image = xray_like(height, width, seed=height + width)

    ours = preprocessing_np.eval_transform(image, spec)
    theirs = preprocessing.eval_transform(torch.from_numpy(image), spec).numpy()

    assert_same_input(ours, theirs, standardize)


@pytest.mark.parametrize("standardize", STANDARDIZE)
def test_a_flat_image_is_standardised_as_the_reference_does(standardize: str) -> None:
    spec = PreprocessSpec(resize=72, crop=64, standardize=standardize)
    flat = np.full((80, 90), 0.2, np.float32)  # 0.3 * 255 = 76.5 would sit on a bin edge

    ours = preprocessing_np.eval_transform(flat, spec)
    theirs = preprocessing.eval_transform(torch.from_numpy(flat), spec).numpy()

    assert np.abs(ours - theirs).max() <= CLOSE


@pytest.mark.parametrize("standardize", STANDARDIZE)
@pytest.mark.parametrize(("height", "width"), [(90, 160), (257, 100), (72, 72)])
def test_a_crop_geometry_computed_beforehand_gives_the_same_input_bit_for_bit(
    height: int, width: int, standardize: str
) -> None:
    spec = PreprocessSpec(resize=72, crop=64, standardize=standardize)
    image = xray_like(height, width, seed=height)

    given = preprocessing_np.eval_transform(image, spec, crop_geometry(height, width, spec))

    assert np.array_equal(given, preprocessing_np.eval_transform(image, spec))


@pytest.mark.parametrize(("shape", "crop"), [((90, 161), 64), ((90, 160), 60)])
def test_a_crop_geometry_for_another_image_or_crop_is_refused(shape: tuple[int, int], crop: int) -> None:
    spec = PreprocessSpec(resize=72, crop=64)
    geometry = crop_geometry(*shape, PreprocessSpec(resize=72, crop=crop))

    with pytest.raises(ValueError, match="crop geometry"):
        preprocessing_np.eval_transform(xray_like(90, 160, seed=1), spec, geometry)


@pytest.mark.parametrize(("height", "width"), [(300, 200), (96, 96), (40, 50)])
def test_the_scope_input_equals_the_torch_reference(height: int, width: int) -> None:
    image = xray_like(height, width, seed=3)

    ours = preprocessing_np.scope_input(image, 96)
    theirs = scope_input(torch.from_numpy(image), 96).numpy()

    assert ours.shape == theirs.shape == (1, 96, 96)
    assert np.abs(ours - theirs).max() <= CLOSE


def test_percentiles_are_the_references_order_statistics() -> None:
    values = np.random.default_rng(0).random(10_001).astype(np.float32)

    ours = preprocessing_np.percentiles(values, (0.01, 0.5, 0.99))
    theirs = preprocessing.percentiles(torch.from_numpy(values)[None], (0.01, 0.5, 0.99))[:, 0]

    assert [float(v) for v in ours] == pytest.approx(theirs.tolist(), abs=0)


@pytest.mark.slow
def test_on_real_radiographs_the_inputs_agree_as_on_generated_ones(shared_data: Path) -> None:
    paths = sorted((shared_data / "COVID").iterdir())[:10] + sorted((shared_data / "Normal").iterdir())[:10]
    for standardize in STANDARDIZE:
        spec = PreprocessSpec(standardize=standardize)
        for path in paths:
            image = decode_gray(path)
            ours = preprocessing_np.eval_transform(image, spec)
            assert_same_input(
                ours, preprocessing.eval_transform(torch.from_numpy(image), spec).numpy(), standardize
            )
