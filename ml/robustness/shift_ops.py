"""The operations behind :mod:`ml.robustness.shifts`, one function per shift: ``(image, severity, rng)``.

Inputs are float32 ``[H, W]`` in [0, 1]; outputs may leave [0, 1] (the caller clips) and may change size.
Lengths in pixels (blur radius, font and marker size) scale with the image's shorter side relative to the
256 pixels the models resize to, so a severity means the same for a 224-pixel and a 3000-pixel image.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

REFERENCE_SIDE = 256

KERNELS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


def _scale(image: np.ndarray) -> float:
    return min(int(image.shape[0]), int(image.shape[1])) / REFERENCE_SIDE


def _sign(rng: np.random.Generator) -> int:
    return 1 if rng.random() < 0.5 else -1


def _resize(image: np.ndarray, height: int, width: int, kernel: str = "bilinear") -> np.ndarray:
    pil = Image.fromarray(np.ascontiguousarray(image, dtype=np.float32))
    return np.asarray(pil.resize((max(1, width), max(1, height)), KERNELS[kernel]), dtype=np.float32)


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur with edge padding."""
    radius = max(1, int(np.ceil(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    out = image.astype(np.float32)
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="edge")
        acc = np.zeros_like(out)
        n = out.shape[axis]
        for i, weight in enumerate(taps):
            window = padded[i : i + n] if axis == 0 else padded[:, i : i + n]
            acc += np.float32(weight) * window
        out = acc
    return out


def resize_history(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    factor = (2, 3, 4)[severity - 1]
    down, up = (str(k) for k in rng.choice(list(KERNELS), 2))
    h, w = image.shape
    small = _resize(image, round(h / factor), round(w / factor), down)
    return _resize(small, h, w, up)


def jpeg(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    quality = (90, 60, 30)[severity - 1]
    buffer = io.BytesIO()
    Image.fromarray(np.round(image * 255).astype(np.uint8)).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("L"), dtype=np.float32) / 255


def gamma(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    g = (1.2, 1.4, 1.6)[severity - 1]
    return np.asarray(image ** np.float32(g if _sign(rng) > 0 else 1 / g), dtype=np.float32)


def contrast(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    factor = (1.3, 1.6, 2.0)[severity - 1] ** _sign(rng)
    mean = float(image.mean())
    return (image - mean) * factor + mean


def window_level(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    width = (0.8, 0.65, 0.5)[severity - 1] ** _sign(rng)
    center = 0.5 + _sign(rng) * (0.05, 0.1, 0.15)[severity - 1]
    return (image - (center - width / 2)) / width


def gaussian_blur(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    return _blur(image, (0.7, 1.2, 2.0)[severity - 1] * _scale(image))


def sharpen(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    amount = (0.5, 1.0, 2.0)[severity - 1]
    return np.asarray(image + amount * (image - _blur(image, 1.5 * _scale(image))), dtype=np.float32)


def gaussian_noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    std = (0.02, 0.04, 0.08)[severity - 1]
    return image + rng.normal(0.0, std, image.shape).astype(np.float32)


def poisson_noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    peak = (400, 100, 25)[severity - 1]
    return (rng.poisson(image.astype(np.float64) * peak) / peak).astype(np.float32)


def _zoom_out(image: np.ndarray, severity: int, rng: np.random.Generator, fill: float) -> np.ndarray:
    factor = (0.9, 0.75, 0.6)[severity - 1]
    h, w = image.shape
    sh, sw = max(1, round(h * factor)), max(1, round(w * factor))
    canvas = np.full((h, w), fill, dtype=np.float32)
    top, left = int(rng.integers(0, h - sh + 1)), int(rng.integers(0, w - sw + 1))
    canvas[top : top + sh, left : left + sw] = _resize(image, sh, sw)
    return canvas


def zoom_out_black(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    return _zoom_out(image, severity, rng, 0.0)


def zoom_out_white(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    return _zoom_out(image, severity, rng, 1.0)


def zoom_in(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    fraction = (0.9, 0.8, 0.7)[severity - 1]
    h, w = image.shape
    ch, cw = max(1, round(h * fraction)), max(1, round(w * fraction))
    top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return _resize(image[top : top + ch, left : left + cw], h, w)


def rotation(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    angle = _sign(rng) * (5.0, 10.0, 15.0)[severity - 1]
    pil = Image.fromarray(np.ascontiguousarray(image, dtype=np.float32))
    return np.asarray(pil.rotate(angle, Image.Resampling.BILINEAR, fillcolor=0.0), dtype=np.float32)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, ImportError):  # Pillow built without FreeType has only the small bitmap font
        return ImageFont.load_default()


LABELS = ("L", "R", "AP", "PA", "PORTABLE", "SUPINE", "ERECT", "ICU", "CHEST 1V")


def text_markers(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    texts, markers = ((1, 1), (2, 3), (4, 6))[severity - 1]
    h, w = image.shape
    side = min(h, w)
    font = _font(max(8, round(side * (0.05, 0.065, 0.08)[severity - 1])))
    pil = Image.fromarray(np.ascontiguousarray(image, dtype=np.float32))
    draw = ImageDraw.Draw(pil)
    for i in range(texts):
        if i == 0 or rng.random() < 0.5:
            label = str(LABELS[int(rng.integers(len(LABELS)))])
        else:
            year, month, day = (int(v) for v in rng.integers((2018, 1, 1), (2023, 13, 29)))
            label = f"{year}-{month:02d}-{day:02d}"
        # Annotations sit in the outer band of the film, where technicians put them.
        x = float(rng.uniform(0.02, 0.7)) * w
        y = float(rng.choice([rng.uniform(0.01, 0.15), rng.uniform(0.8, 0.92)])) * h
        draw.text((x, y), label, fill=1.0, font=font)
    for _ in range(markers):
        # Round lead markers and ECG electrodes can lie anywhere, over the lungs too.
        r = side * float(rng.uniform(0.015, 0.035))
        cx, cy = float(rng.uniform(0.05, 0.95)) * w, float(rng.uniform(0.05, 0.95)) * h
        if rng.random() < 0.5:
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=1.0)
        else:
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=1.0, width=max(1, round(r / 3)))
    return np.asarray(pil, dtype=np.float32)


def aspect_squash(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    factor = (0.9, 0.85, 0.8)[severity - 1]
    h, w = image.shape
    if rng.random() < 0.5:
        return _resize(image, h, round(w * factor))
    return _resize(image, round(h * factor), w)


def _store(
    image: np.ndarray, bits: int, gain_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, float, float]:
    """Quantise to ``bits`` as a detector stores it: a pedestal, a gain, integers; with pedestal and gain."""
    top = 2**bits - 1
    offset, gain = float(rng.uniform(0.02, 0.2)) * top, gain_fraction * top
    return np.clip(np.round(offset + image.astype(np.float64) * gain), 0, top), offset, gain


def bit12_window(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    stored, _, _ = _store(image, 12, (0.5, 0.2, 0.06)[severity - 1], rng)
    # No VOI window in the file: the converter stretches between percentiles of the stored values.
    tail = (0.5, 2.0, 5.0)[severity - 1]
    lo, hi = (float(v) for v in np.percentile(stored, (tail, 100 - tail)))
    if hi <= lo:
        return np.full(image.shape, float(image.mean()), dtype=np.float32)
    return ((stored - lo) / (hi - lo)).astype(np.float32)


def bit16_window(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    stored, offset, gain = _store(image, 16, (0.5, 0.1, 0.02)[severity - 1], rng)
    # The file's own window was set for a typical exposure, so it misses this image's level and width.
    width = (0.9, 0.75, 0.6)[severity - 1] ** _sign(rng)
    center = 0.5 + _sign(rng) * (0.05, 0.1, 0.15)[severity - 1]
    lo = offset + (center - width / 2) * gain
    return ((stored - lo) / (width * gain)).astype(np.float32)


def invert(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    return 1.0 - image
