"""File bytes -> one grayscale image in [0, 1], oriented as a person would view it.

The one decoder of the project: the service decodes uploads with it and training, evaluation, the
robustness suite and the input-assessment gate decode the dataset's files with it (through
:func:`ml.data.decode_gray`), so all of them agree from the file's bytes on: EXIF orientation, alpha
composited over black, 16-bit depth, DICOM's LUTs and windows.

The format is recognised by its leading bytes, never by a file name or a declared type, and only among the
``allowed`` kinds (the service takes PNG, JPEG and DICOM; the dataset is WebP and PNG): :func:`decode_image`
sniffs then decodes; a caller that refuses other formats before any decoding (the service) runs
:func:`sniff` itself, then :func:`decode_as`. Limits are checked against the header before any pixel is
decoded, so a small file cannot claim gigabytes of memory. It is all blocking CPU work, and it logs
nothing: a log line could carry patient data.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import numpy as np

from ml.decoding.dicom import configure_pydicom, decode_dicom
from ml.decoding.errors import (
    DecodeError,
    DecoderNotInstalledError,
    SideTooShortError,
    TooManyPixelsError,
    UnreadableImageError,
    UnsupportedFormatError,
    summarize,
)
from ml.decoding.raster import decode_raster
from ml.model.checks import ImageFacts

__all__ = [
    "ALL_KINDS",
    "SERVED_KINDS",
    "SERVED_LIMITS",
    "DecodeError",
    "DecodeLimits",
    "DecodedImage",
    "DecoderNotInstalledError",
    "ImageKind",
    "SideTooShortError",
    "TooManyPixelsError",
    "UnreadableImageError",
    "UnsupportedFormatError",
    "configure_pydicom",
    "decode_as",
    "decode_image",
    "sniff",
    "summarize",
]


class ImageKind(StrEnum):
    PNG = "png"
    JPEG = "jpeg"
    WEBP = "webp"
    BMP = "bmp"
    DICOM = "dicom"


ALL_KINDS: Final = frozenset(ImageKind)

_SIGNATURES: Final[dict[ImageKind, tuple[tuple[int, bytes], ...]]] = {
    ImageKind.PNG: ((0, b"\x89PNG\r\n\x1a\n"),),
    ImageKind.JPEG: ((0, b"\xff\xd8\xff"),),
    ImageKind.WEBP: ((0, b"RIFF"), (8, b"WEBP")),
    ImageKind.BMP: ((0, b"BM"),),
    ImageKind.DICOM: ((128, b"DICM"),),
}
"""(offset, bytes) that a file of each kind holds; DICOM's are after the 128-byte preamble."""
_NAMES: Final = {ImageKind.WEBP: "WebP"}


@dataclass(frozen=True)
class DecodeLimits:
    max_pixels: int
    min_side: int


SERVED_KINDS: Final = frozenset({ImageKind.PNG, ImageKind.JPEG, ImageKind.DICOM})
"""What the service accepts (``service.upload.ACCEPTED_KINDS``), and so what ``validate-site`` reads."""
SERVED_LIMITS: Final = DecodeLimits(max_pixels=40_000_000, min_side=64)
"""The service's default ``CXR_MAX_PIXELS`` and ``CXR_MIN_SIDE`` (tested equal to its settings)."""


@dataclass(frozen=True)
class DecodedImage:
    kind: ImageKind
    pixels: np.ndarray
    """``[H, W]`` float32 in [0, 1]; 0 is black as displayed (MONOCHROME1 already inverted)."""
    colour_fraction: float = 0.0
    """Share of clearly coloured pixels (see :func:`ml.model.checks.colour_fraction`); 0 if not measured."""
    modality: str = ""
    view_position: str = ""
    body_part: str = ""
    """DICOM acquisition tags, empty for the other kinds."""

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


def sniff(data: bytes, allowed: Collection[ImageKind]) -> ImageKind:
    """The kind among ``allowed`` whose signature the data starts with."""
    for kind in ImageKind:
        if kind in allowed and all(data[at : at + len(magic)] == magic for at, magic in _SIGNATURES[kind]):
            return kind
    if not data:
        raise UnreadableImageError("The image is empty (0 bytes).")
    raise UnsupportedFormatError(_unrecognised(allowed))


def _unrecognised(allowed: Collection[ImageKind]) -> str:
    names = [_NAMES.get(kind, kind.value.upper()) for kind in ImageKind if kind in allowed]
    if not names:
        return "No image format is allowed here."
    if len(names) == 1:
        detail = f"The upload is not {names[0]} (its first bytes do not match)."
    else:
        listed = f"{', '.join(names[:-1])} nor {names[-1]}"
        detail = f"The upload is neither {listed} (its first bytes match none of them)."
    if ImageKind.DICOM in allowed:
        detail += " DICOM files need the standard 128-byte preamble followed by 'DICM'."
    return detail


def decode_image(
    data: bytes, limits: DecodeLimits, *, allowed: Collection[ImageKind], measure_colour: bool = True
) -> DecodedImage:
    """Raises a :class:`DecodeError` subclass when the data is not a usable image of an allowed kind.

    ``measure_colour=False`` leaves :attr:`DecodedImage.colour_fraction` at 0, for a caller that needs only
    the pixels (a few milliseconds an image, over a whole dataset).
    """
    return decode_as(data, sniff(data, allowed), limits, measure_colour=measure_colour)


def decode_as(
    data: bytes, kind: ImageKind, limits: DecodeLimits, *, measure_colour: bool = True
) -> DecodedImage:
    """:func:`decode_image` for data whose kind is known already (its caller ran :func:`sniff`).

    Data that is not of that kind fails as a damaged file of that kind (:class:`UnreadableImageError`).
    """
    tags = ("", "", "")
    if kind is ImageKind.DICOM:
        dicom = decode_dicom(data, limits.max_pixels, measure_colour)
        pixels, colour, tags = dicom.pixels, dicom.colour_fraction, dicom.tags
    else:
        pixels, colour = decode_raster(data, kind.value.upper(), limits.max_pixels, measure_colour)
    height, width = pixels.shape
    if min(height, width) < limits.min_side:
        raise SideTooShortError(
            f"The image is {width}x{height} pixels; each side must be at least {limits.min_side}."
        )
    pixels = np.clip(np.nan_to_num(pixels, nan=0.0), 0.0, 1.0, dtype=np.float32)
    return DecodedImage(kind, pixels, colour, *tags)
