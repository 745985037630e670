"""Real images that are not chest X-rays, read from packages installed with the training extra.

pydicom ships CT, MR, ultrasound and nuclear-medicine test files; scikit-image ships sample photographs,
a page of text and a CT phantom. They are read where they are installed, never copied into the project.
The files named in :data:`HELD_OUT` are kept for evaluation and never trained on.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image

logger = logging.getLogger(__name__)

DICOM_FILES = (
    "CT_small.dcm",
    "MR_small.dcm",
    "examples_overlay.dcm",
    "JPEG2000.dcm",
    "examples_palette.dcm",
    "693_J2KI.dcm",
    "image_dfl.dcm",
)
HELD_OUT = frozenset({"693_J2KI.dcm", "image_dfl.dcm", "camera.png", "page.png"})
"""A CT slice, another DICOM image, a photograph and a document: the evaluation's real negatives."""


def _normalise(values: np.ndarray) -> np.ndarray:
    values = values.astype(np.float32)
    lo, hi = np.percentile(values, [0.5, 99.5])
    return np.asarray(np.clip((values - lo) / max(float(hi - lo), 1e-6), 0, 1), dtype=np.float32)


def dicom_images() -> dict[str, np.ndarray]:
    """pydicom's test images that decode without extra plugins, as grayscale ``[H, W]`` in [0, 1]."""
    try:
        import pydicom
        from pydicom.data import get_testdata_file
    except ImportError:
        return {}
    out = {}
    for name in DICOM_FILES:
        try:
            path = get_testdata_file(name)
            if path is None:
                continue
            pixels = pydicom.dcmread(path).pixel_array
        except Exception as exc:  # a missing decoder plugin or file: that image is simply not used
            logger.info("skipping %s: %s", name, type(exc).__name__)
            continue
        while pixels.ndim > 2:
            pixels = pixels[pixels.shape[0] // 2] if pixels.shape[-1] not in (3, 4) else pixels.mean(-1)
        out[name] = _normalise(pixels)
    return out


def skimage_images() -> dict[str, np.ndarray]:
    """scikit-image's bundled sample images (photographs, text, textures, a phantom), in grayscale."""
    try:
        import skimage
    except ImportError:
        return {}
    folder = Path(skimage.__file__).parent / "data"
    out = {}
    for path in sorted(folder.glob("*")):
        if path.suffix.lower() not in {".png", ".jpg"}:
            continue
        with Image.open(path) as image:
            gray = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
        if min(gray.shape) >= 64:
            out[path.name] = gray
    return out


def packaged_images(held_out: bool) -> dict[str, np.ndarray]:
    """Every packaged image, or only the held-out ones (``held_out=True``) or only the others."""
    images = {**dicom_images(), **skimage_images()}
    return {k: v for k, v in images.items() if (k in HELD_OUT) == held_out}


def augment(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random crop, flip, turn and window of a packaged image, so a few files give many examples."""
    h, w = image.shape
    scale = rng.uniform(0.5, 1.0)
    ch, cw = max(32, int(h * scale)), max(32, int(w * scale))
    top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    out = image[top : top + ch, left : left + cw]
    out = np.rot90(out, int(rng.integers(0, 4)))
    if rng.random() < 0.5:
        out = out[:, ::-1]
    lo, hi = sorted(rng.uniform(0, 1, 2))
    if hi - lo > 0.2:
        out = np.clip((out - lo) / (hi - lo), 0, 1)
    return np.ascontiguousarray(out, dtype=np.float32)
