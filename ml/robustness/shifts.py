"""Acquisition shifts for the robustness suite, applied to a raw decoded image before preprocessing.

Every shift takes a float32 grayscale image ``[H, W]`` in [0, 1] (as :func:`ml.data.decode_gray` returns)
and gives back another one in [0, 1], possibly of another size, at severity 1 (mild) to 3 (strong).
Random choices (a kernel, a direction, a position) come from the caller's generator only, so the same
generator state gives the same image. The operations live in :mod:`ml.robustness.shift_ops`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ml.robustness import shift_ops as ops

SEVERITIES = (1, 2, 3)

ShiftFn = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Shift:
    name: str
    description: str
    levels: tuple[str, str, str]
    """What severities 1, 2 and 3 mean, for reports."""
    fn: ShiftFn


_TABLE: list[tuple[ShiftFn, str, tuple[str, str, str]]] = [
    (
        ops.resize_history,
        "downscaled and upscaled again, each kernel drawn from nearest, bilinear, bicubic, Lanczos",
        ("2x", "3x", "4x"),
    ),
    (ops.jpeg, "8-bit JPEG re-encoding", ("quality 90", "quality 60", "quality 30")),
    (ops.gamma, "power law x^g, with g or 1/g drawn", ("g 1.2", "g 1.4", "g 1.6")),
    (ops.contrast, "contrast scaled about the mean by c or 1/c", ("c 1.3", "c 1.6", "c 2.0")),
    (
        ops.window_level,
        "another display window: width w or 1/w, level moved up or down",
        ("w 0.8, level ±0.05", "w 0.65, level ±0.1", "w 0.5, level ±0.15"),
    ),
    (ops.gaussian_blur, "Gaussian blur, sigma in 256-pixel units", ("sigma 0.7", "sigma 1.2", "sigma 2")),
    (ops.sharpen, "unsharp mask, sigma 1.5 in 256-pixel units", ("amount 0.5", "amount 1", "amount 2")),
    (ops.gaussian_noise, "additive Gaussian noise", ("std 0.02", "std 0.04", "std 0.08")),
    (ops.poisson_noise, "quantum noise, counts = peak x intensity", ("peak 400", "peak 100", "peak 25")),
    (ops.zoom_out_black, "shrunk onto a black canvas at a random place", ("90%", "75%", "60%")),
    (ops.zoom_out_white, "shrunk onto a white canvas at a random place", ("90%", "75%", "60%")),
    (ops.zoom_in, "random crop resized back to full size", ("90% crop", "80% crop", "70% crop")),
    (ops.rotation, "rotation either way, black corners", ("5°", "10°", "15°")),
    (
        ops.text_markers,
        "burned-in white text near the edges, round markers anywhere",
        ("1 text, 1 marker", "2 texts, 3 markers", "4 texts, 6 markers"),
    ),
    (ops.aspect_squash, "one axis squashed: aspect ratio x f or / f", ("f 0.9", "f 0.85", "f 0.8")),
    (
        ops.bit12_window,
        "12-bit with pedestal and gain, windowed between percentiles",
        ("50% of range, 0.5-99.5%", "20% of range, 2-98%", "6% of range, 5-95%"),
    ),
    (
        ops.bit16_window,
        "16-bit with pedestal and gain, shown through a mismatched fixed window",
        ("50% of range, w 0.9, ±0.05", "10% of range, w 0.75, ±0.1", "2% of range, w 0.6, ±0.15"),
    ),
    (ops.invert, "inverted polarity, 1 - x (the same at every severity)", ("1 - x", "1 - x", "1 - x")),
]

SHIFTS: dict[str, Shift] = {fn.__name__: Shift(fn.__name__, text, levels, fn) for fn, text, levels in _TABLE}


def apply_shift(image: np.ndarray, name: str, severity: int, rng: np.random.Generator) -> np.ndarray:
    """``image`` (2-D, values in [0, 1]) under shift ``name`` at ``severity``: float32 2-D in [0, 1]."""
    if name not in SHIFTS:
        raise KeyError(f"unknown shift {name!r}; known: {', '.join(SHIFTS)}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity}")
    x = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {x.shape}")
    out = SHIFTS[name].fn(x, severity, rng)
    return np.ascontiguousarray(np.clip(out, 0.0, 1.0), dtype=np.float32)
