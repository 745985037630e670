"""DICOM Part 10 bytes -> grayscale in [0, 1], as a radiologist's viewer would display it.

Order of operations (PS3.3 C.11): stored values -> modality LUT / rescale -> VOI LUT or window -> inverted
for MONOCHROME1. Without a VOI LUT or window, the rescaled values are stretched from their minimum to their
maximum, so a 12-bit image in a 16-bit container is scaled by its real range, not by 65535.

Patient and study elements are never read: pydicom parses values lazily, so untouched elements stay raw
bytes, and its validation warnings and log messages (which can quote values) are switched off.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pydicom
from pydicom import config as pydicom_config
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.processing import apply_modality_lut, apply_voi

from ml.decoding.errors import (
    DecodeError,
    DecoderNotInstalledError,
    TooManyPixelsError,
    UnreadableImageError,
    UnsupportedFormatError,
    summarize,
)
from ml.model.checks import colour_fraction

_MONOCHROME: Final = frozenset({"MONOCHROME1", "MONOCHROME2"})
_COLOUR: Final = frozenset({"RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420"})
_LUMA: Final = np.array([0.299, 0.587, 0.114])


def configure_pydicom() -> None:
    """Process-wide pydicom settings the decoder relies on (quiet, lenient reading); idempotent."""
    pydicom_config.settings.reading_validation_mode = pydicom_config.IGNORE
    warnings.filterwarnings("ignore", module=r"pydicom(\.|$)")
    pydicom_logger = logging.getLogger("pydicom")
    pydicom_logger.handlers.clear()
    pydicom_logger.addHandler(logging.NullHandler())
    pydicom_logger.propagate = False


@dataclass(frozen=True)
class DicomImage:
    pixels: np.ndarray
    """``[H, W]`` float64 in [0, 1], white is dense."""
    colour_fraction: float
    modality: str
    view_position: str
    body_part: str
    """Acquisition tags for the input assessment; no patient or study field is ever read out."""

    @property
    def tags(self) -> tuple[str, str, str]:
        return self.modality, self.view_position, self.body_part


def _tag(dataset: Dataset, keyword: str) -> str:
    return str(dataset.get(keyword, "") or "").strip()[:32]


def decode_dicom(data: bytes, max_pixels: int, measure_colour: bool = True) -> DicomImage:
    try:
        dataset = pydicom.dcmread(io.BytesIO(data))
        rows, columns, photometric = _geometry(dataset)
        TooManyPixelsError.check(columns, rows, max_pixels)
        _require_decoder(dataset)
        stored = dataset.pixel_array
    except DecodeError:
        raise
    except MemoryError:
        raise
    # pydicom reports malformed input with many exception types (InvalidDicomError, struct.error,
    # KeyError, IndexError, RuntimeError from its decoders, ...); the bytes are untrusted, so any failure
    # to parse them is the client's.
    except Exception as exc:
        raise UnreadableImageError(f"The DICOM file cannot be decoded ({summarize(exc)}).") from exc
    if stored.shape[:2] != (rows, columns):
        raise UnreadableImageError(
            f"The DICOM pixel data has shape {stored.shape}, expected {rows}x{columns}."
        )
    tags = (_tag(dataset, "Modality"), _tag(dataset, "ViewPosition"), _tag(dataset, "BodyPartExamined"))
    if photometric in _COLOUR:
        bits = int(dataset.get("BitsStored", 8))
        rgb = np.asarray(stored, dtype=np.float64) / (2**bits - 1)
        # Multiply and sum, not ``@``: a BLAS call leaves OpenBLAS's threads spinning, which slows the next
        # forward pass by half on a small CPU.
        luma = (rgb * _LUMA).sum(axis=-1)
        return DicomImage(luma, colour_fraction(rgb) if measure_colour else 0.0, *tags)
    try:
        values = np.asarray(apply_modality_lut(stored, dataset), dtype=np.float64)
        gray = _apply_voi(values, dataset)
    except DecodeError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, NotImplementedError) as exc:
        raise UnreadableImageError(f"The DICOM LUT or window is invalid ({summarize(exc)}).") from exc
    return DicomImage(1.0 - gray if photometric == "MONOCHROME1" else gray, 0.0, *tags)


def _geometry(dataset: Dataset) -> tuple[int, int, str]:
    if "PixelData" not in dataset:
        raise UnreadableImageError("The DICOM file has no (integer) pixel data; is it an image object?")
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    if frames != 1:
        raise UnreadableImageError(f"The DICOM file holds {frames} frames; send a single-frame radiograph.")
    photometric = str(dataset.get("PhotometricInterpretation", "")).strip().upper()
    if photometric not in _MONOCHROME | _COLOUR:
        raise UnreadableImageError(
            f"DICOM photometric interpretation {photometric!r} is not supported; "
            "expected MONOCHROME1, MONOCHROME2, RGB or YBR_*."
        )
    return int(dataset.Rows), int(dataset.Columns), photometric


def _require_decoder(dataset: Dataset) -> None:
    syntax = dataset.file_meta.get("TransferSyntaxUID")
    if syntax is None:
        raise UnreadableImageError("The DICOM file meta information has no Transfer Syntax UID (0002,0010).")
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        raise UnsupportedFormatError(
            f"DICOM transfer syntax {syntax.name!r} ({syntax}) has no pixel data decoder in pydicom."
        ) from None
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies) or "no plugin is available"
        raise DecoderNotInstalledError(
            f"DICOM transfer syntax {syntax.name!r} ({syntax}) needs a plugin that is not installed: "
            f"{missing}. Install one, or send the image uncompressed."
        )


def _apply_voi(values: np.ndarray, dataset: Dataset) -> np.ndarray:
    """Rescaled values -> [0, 1] through the VOI LUT, else the window, else the values' own range."""
    sequence = dataset.get("VOILUTSequence")
    if sequence and "LUTDescriptor" in sequence[0] and "LUTData" in sequence[0]:
        depth = int(sequence[0].LUTDescriptor[2])
        # A VOI LUT is indexed by integers; the modality output is rounded to index it.
        mapped = apply_voi(np.rint(values).astype(np.int64), dataset)
        return np.asarray(mapped, dtype=np.float64) / np.float64(2**depth - 1)
    if "WindowCenter" in dataset and "WindowWidth" in dataset:
        function = str(dataset.get("VOILUTFunction", "LINEAR") or "LINEAR").strip().upper()
        return _window(values, _first(dataset.WindowCenter), _first(dataset.WindowWidth), function)
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros_like(values)
    return (values - low) / (high - low)


def _window(values: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """PS3.3 C.11.2.1.2 and C.11.2.1.3, with output range [0, 1]."""
    if function == "LINEAR":
        if width < 1:
            raise UnreadableImageError(
                f"DICOM Window Width {width} must be >= 1 for the LINEAR VOI function."
            )
        center, width = center - 0.5, width - 1
        if width == 0:
            return (values > center).astype(np.float64)
        return np.clip((values - center) / width + 0.5, 0.0, 1.0)
    if width <= 0:
        raise UnreadableImageError(f"DICOM Window Width {width} must be > 0 for the {function} VOI function.")
    if function == "LINEAR_EXACT":
        return np.clip((values - center) / width + 0.5, 0.0, 1.0)
    if function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(-4.0 * (values - center) / width))
    raise UnreadableImageError(f"DICOM VOI LUT Function {function!r} is not supported.")


def _first(value: Any) -> float:
    """Window Center/Width may hold several alternatives (VM 1-n); the first is the default view."""
    if isinstance(value, MultiValue | list | tuple):
        return float(value[0])
    return float(value)
