"""PNG, JPEG, WebP and BMP bytes -> grayscale in [0, 1], upright as a person would view the image."""

from __future__ import annotations

import io
from typing import Final

import numpy as np
from PIL import BmpImagePlugin, Image, ImageFile, ImageOps, JpegImagePlugin, PngImagePlugin, WebPImagePlugin

from ml.decoding.errors import DecodeError, TooManyPixelsError, UnreadableImageError, summarize
from ml.model.checks import colour_fraction

_SIXTEEN_BIT_MODES: Final = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_ALPHA_MODES: Final = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_OPENERS: Final[dict[str, type[ImageFile.ImageFile]]] = {
    "PNG": PngImagePlugin.PngImageFile,
    "JPEG": JpegImagePlugin.JpegImageFile,
    "WEBP": WebPImagePlugin.WebPImageFile,
    "BMP": BmpImagePlugin.BmpImageFile,
}
"""Each format's reader: it parses the header only, and, unlike ``Image.open``, applies no pixel limit of
Pillow's own (``Image.MAX_IMAGE_PIXELS``), which would refuse first, with its message and limit, whatever
``max_pixels`` is. The limit here is ``max_pixels``, checked on the header before any pixel is decoded."""


def decode_raster(
    data: bytes, pillow_format: str, max_pixels: int, measure_colour: bool
) -> tuple[np.ndarray, float]:
    """``[H, W]`` float32 in [0, 1] and the colour fraction (0 unless measured).

    ``pillow_format`` is Pillow's name for the format ("PNG").
    """
    try:
        with _OPENERS[pillow_format](io.BytesIO(data)) as image:
            TooManyPixelsError.check(image.width, image.height, max_pixels)
            # In place: an image with nothing to turn is not copied.
            ImageOps.exif_transpose(image, in_place=True)
            return _to_gray(image, measure_colour)
    except DecodeError:
        raise
    except MemoryError:
        raise
    # Pillow reports malformed input with many exception types (OSError, SyntaxError, ValueError,
    # struct.error, IndexError, ...); the bytes are untrusted, so any failure to parse them is the sender's.
    except Exception as exc:
        raise UnreadableImageError(
            f"The {pillow_format} data is truncated or corrupt ({summarize(exc)})."
        ) from exc


def _to_gray(image: Image.Image, measure_colour: bool) -> tuple[np.ndarray, float]:
    """Pillow image in any mode -> float32 ``[H, W]`` in [0, 1], and its colour fraction."""
    if image.mode in _SIXTEEN_BIT_MODES:
        return np.asarray(image).astype(np.float32) / 65535.0, 0.0
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode == "CMYK":
        image = image.convert("RGB")
    alpha = None
    if image.mode in _ALPHA_MODES:
        # Transparent pixels carry arbitrary colour; compositing over black shows them as background.
        alpha = np.asarray(image.getchannel("A"), dtype=np.float32) / 255.0
    colour = 0.0
    if measure_colour and image.mode in ("RGB", "RGBA", "RGBa"):
        # On a thumbnail: the share of coloured pixels needs no full-resolution pass.
        small = image.convert("RGB").resize((min(image.width, 128), min(image.height, 128)))
        colour = colour_fraction(np.asarray(small, dtype=np.float32) / 255.0)
    gray = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    return (gray * alpha if alpha is not None else gray), colour
