"""Uploaded bytes -> one grayscale image in [0, 1], oriented as a person would view it.

The format is recognised by its leading bytes, never by a file name or a declared type. Limits are checked
against the header before any pixel is decoded, so a small file cannot claim gigabytes of memory.
Everything here is blocking CPU work: callers run it in a worker thread.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import numpy as np
from PIL import Image, ImageOps

from ml.model.checks import ImageFacts, colour_fraction
from service.dicom import decode_dicom
from service.errors import (
    ImageTooLargeError,
    ImageTooSmallError,
    InvalidImageError,
    ServiceError,
    UnsupportedMediaTypeError,
    summarize,
)

_PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC: Final = b"\xff\xd8\xff"
_DICOM_MAGIC_OFFSET: Final = 128
_DICOM_MAGIC: Final = b"DICM"
_SIXTEEN_BIT_MODES: Final = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_ALPHA_MODES: Final = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})


class ImageKind(StrEnum):
    PNG = "png"
    JPEG = "jpeg"
    DICOM = "dicom"


@dataclass(frozen=True)
class DecodeLimits:
    max_pixels: int
    min_side: int


@dataclass(frozen=True)
class DecodedImage:
    kind: ImageKind
    pixels: np.ndarray
    """``[H, W]`` float32 in [0, 1]; 0 is black as displayed (MONOCHROME1 already inverted)."""
    colour_fraction: float = 0.0
    """Share of clearly coloured pixels (see :func:`ml.model.checks.colour_fraction`)."""
    modality: str = ""
    view_position: str = ""
    body_part: str = ""
    """DICOM acquisition tags, empty for PNG and JPEG."""

    def facts(self) -> ImageFacts:
        return ImageFacts(
            self.height, self.width, self.colour_fraction, self.modality, self.view_position, self.body_part
        )

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


def sniff(data: bytes) -> ImageKind:
    if data.startswith(_PNG_MAGIC):
        return ImageKind.PNG
    if data.startswith(_JPEG_MAGIC):
        return ImageKind.JPEG
    if data[_DICOM_MAGIC_OFFSET : _DICOM_MAGIC_OFFSET + len(_DICOM_MAGIC)] == _DICOM_MAGIC:
        return ImageKind.DICOM
    if not data:
        raise InvalidImageError("The image is empty (0 bytes).")
    raise UnsupportedMediaTypeError(
        "The upload is neither PNG, JPEG nor DICOM (its first bytes match none of them). "
        "DICOM files need the standard 128-byte preamble followed by 'DICM'."
    )


def decode_image(data: bytes, limits: DecodeLimits) -> DecodedImage:
    kind = sniff(data)
    tags = ("", "", "")
    if kind is ImageKind.DICOM:
        dicom = decode_dicom(data, limits.max_pixels)
        pixels, colour, tags = dicom.pixels, dicom.colour_fraction, dicom.tags
    else:
        pixels, colour = _decode_raster(data, kind, limits.max_pixels)
    height, width = pixels.shape
    if min(height, width) < limits.min_side:
        raise ImageTooSmallError(
            f"The image is {width}x{height} pixels; each side must be at least {limits.min_side}."
        )
    pixels = np.clip(np.nan_to_num(pixels, nan=0.0), 0.0, 1.0, dtype=np.float32)
    return DecodedImage(kind, pixels, colour, *tags)


def _decode_raster(data: bytes, kind: ImageKind, max_pixels: int) -> tuple[np.ndarray, float]:
    name = kind.value.upper()
    try:
        with Image.open(io.BytesIO(data), formats=[name]) as image:
            ImageTooLargeError.check(image.width, image.height, max_pixels)
            upright = ImageOps.exif_transpose(image)
            assert upright is not None  # returned unless in_place=True
            return _to_gray(upright)
    except ServiceError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"Pillow refused the image as a decompression bomb: {exc}") from exc
    except MemoryError:
        raise
    # Pillow reports malformed input with many exception types (OSError, SyntaxError, ValueError,
    # struct.error, IndexError, ...); the bytes are untrusted, so any failure to parse them is the client's.
    except Exception as exc:
        raise InvalidImageError(f"The {name} data is truncated or corrupt ({summarize(exc)}).") from exc


def _to_gray(image: Image.Image) -> tuple[np.ndarray, float]:
    """Pillow image in any PNG/JPEG mode -> float32 ``[H, W]`` in [0, 1], and its colour fraction."""
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
    if image.mode in ("RGB", "RGBA", "RGBa"):
        # On a thumbnail: the share of coloured pixels needs no full-resolution pass.
        small = image.convert("RGB").resize((min(image.width, 128), min(image.height, 128)))
        colour = colour_fraction(np.asarray(small, dtype=np.float32) / 255.0)
    gray = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    return (gray * alpha if alpha is not None else gray), colour
