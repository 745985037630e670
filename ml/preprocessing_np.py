"""The evaluation preprocessing of :mod:`ml.preprocessing` in numpy and Pillow, for the torch-free service.

The same steps and the same numbers (``tests/ml/test_preprocessing_np.py`` compares them): the shorter side
resized with antialiased bilinear weights, the optional per-image standardisation, the centre crop, the
normalisation. Pillow's resampling on 32-bit float images is the algorithm torch's ``antialias=True`` was
taken from (a triangle filter widened by the downscaling factor, weights renormalised at the borders); it
accumulates in double precision where torch uses float, so the two differ by a few float32 roundings.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from ml.preprocess_spec import EQUALIZE_BINS, PERCENTILES, CropGeometry, PreprocessSpec, crop_geometry


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """``[H, W]`` -> ``[height, width]`` float32, antialiased bilinear (torch's ``antialias=True``)."""
    pixels = np.ascontiguousarray(image, dtype=np.float32)
    if pixels.shape == (height, width):
        return pixels
    resized = Image.fromarray(pixels).resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32)


def percentiles(flat: np.ndarray, qs: tuple[float, ...]) -> list[np.float32]:
    """Linear-interpolated quantiles of ``flat`` ``[M]``, as :func:`ml.preprocessing.percentiles` computes
    them (float32, from the two order statistics around ``q * (M - 1)``)."""
    last = flat.size - 1
    wanted = sorted({k for q in qs for k in (math.floor(q * last), min(math.floor(q * last) + 1, last))})
    ordered = np.partition(flat.astype(np.float32, copy=False), wanted)
    out = []
    for q in qs:
        pos = q * last
        lo = math.floor(pos)
        hi = min(lo + 1, last)
        out.append(np.float32(ordered[lo] + (ordered[hi] - ordered[lo]) * np.float32(pos - lo)))
    return out


def _stretch(image: np.ndarray) -> np.ndarray:
    lo, hi = percentiles(image.ravel(), PERCENTILES)
    if hi - lo < 1e-3:  # a (nearly) flat image is left as it is, as the reference does
        lo, span = np.float32(0.0), np.float32(1.0)
    else:
        span = np.float32(hi - lo)
    out = (image - lo) / span
    return np.clip(out, 0.0, 1.0, out=out)


def _equalize(image: np.ndarray) -> np.ndarray:
    bins = np.clip(np.rint(image * np.float32(EQUALIZE_BINS - 1)), 0, EQUALIZE_BINS - 1).astype(np.intp)
    hist = np.bincount(bins.ravel(), minlength=EQUALIZE_BINS).astype(np.float32)
    below = np.cumsum(hist, dtype=np.float32) - hist / np.float32(2)
    table = (below / np.float32(bins.size)).astype(np.float32)
    return table[bins]


def standardize(image: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """Per-image intensity standardisation of ``[H, W]`` in [0, 1], as ``spec.standardize`` says."""
    if spec.standardize == "none":
        return image
    if spec.standardize == "percentile":
        return _stretch(image)
    return _equalize(image)


def eval_transform(
    image: np.ndarray, spec: PreprocessSpec, geometry: CropGeometry | None = None
) -> np.ndarray:
    """One grayscale image ``[H, W]`` in [0, 1] -> the model's input ``[channels, crop, crop]`` float32.

    ``geometry`` is the image's :func:`~ml.preprocess_spec.crop_geometry` under ``spec``, for a caller that
    has computed it already; without it, it is computed here.
    """
    if geometry is None:
        geometry = crop_geometry(image.shape[0], image.shape[1], spec)
    elif (geometry.height, geometry.width) != image.shape or geometry.crop != spec.crop:
        raise ValueError(
            f"a crop geometry for {geometry.width}x{geometry.height} and a {geometry.crop} crop, given "
            f"{image.shape[1]}x{image.shape[0]} and a {spec.crop} crop"
        )
    resized = standardize(resize(image, geometry.resized_height, geometry.resized_width), spec)
    x = resized[geometry.top : geometry.top + geometry.crop, geometry.left : geometry.left + geometry.crop]
    normalized = (x - np.float32(spec.mean)) / np.float32(spec.std)
    return np.ascontiguousarray(np.broadcast_to(normalized, (spec.channels, *normalized.shape)))


def scope_input(image: np.ndarray, size: int) -> np.ndarray:
    """One grayscale image ``[H, W]`` in [0, 1] -> the scope classifier's input ``[1, size, size]``, as
    :func:`ml.model.scope.scope_input` makes it: the whole image squashed to a square."""
    x = resize(image, size, size)
    return ((x - np.float32(0.5)) / np.float32(0.5))[None]
