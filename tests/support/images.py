"""Tiny test images built on the fly with Pillow and pydicom. None is a real X-ray."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from typing import Any

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import UID, ExplicitVRLittleEndian, RLELossless, generate_uid

DX_FOR_PRESENTATION = UID("1.2.840.10008.5.1.4.1.1.1.1")


def pattern(height: int = 64, width: int = 64, seed: int = 0) -> np.ndarray:
    """A float image spanning [0, 1], with structure (gradient, disc, noise) for a random CNN to react to."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    disc = ((ys - height * 0.4) ** 2 + (xs - width * 0.6) ** 2) < (min(height, width) * 0.25) ** 2
    image = np.asarray(np.clip(0.5 * xs / max(width - 1, 1) + 0.3 * disc + 0.2 * rng.random(xs.shape), 0, 1))
    # The full range, so a DICOM without a window (stretched min to max) equals the same PNG.
    image[0, 0], image[-1, -1] = 0.0, 1.0
    return image


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.asarray(np.rint(np.clip(image, 0, 1) * 255), dtype=np.uint8)


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_bytes(height: int = 64, width: int = 64, seed: int = 0) -> bytes:
    return encode(Image.fromarray(to_uint8(pattern(height, width, seed))), "PNG")


def png_claiming(width: int, height: int) -> bytes:
    """A 45-byte PNG: the signature, a header claiming ``width`` x ``height`` 8-bit gray pixels, and an
    empty image data chunk; no pixel at all."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload)
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"")


def jpeg_bytes(height: int = 64, width: int = 64, seed: int = 0, **options: Any) -> bytes:
    return encode(Image.fromarray(to_uint8(pattern(height, width, seed))), "JPEG", quality=95, **options)


def dicom_bytes(
    stored: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    bits_stored: int | None = None,
    patient_name: str = "Test^Patient",
    patient_id: str = "TEST-0001",
    transfer_syntax: UID = ExplicitVRLittleEndian,
    encapsulated_frames: list[bytes] | None = None,
    **elements: Any,
) -> bytes:
    """A DICOM Part 10 file holding ``stored`` (uint8/uint16 ``[H, W]`` or uint8 ``[H, W, 3]``).

    ``elements`` are set on the dataset as given (WindowCenter=..., RescaleSlope=..., ...).
    ``encapsulated_frames`` replaces the pixel data with those compressed frames.
    """
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DX_FOR_PRESENTATION
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian if transfer_syntax == RLELossless else transfer_syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.Rows, ds.Columns = stored.shape[:2]
    ds.SamplesPerPixel = 3 if stored.ndim == 3 else 1
    if stored.ndim == 3:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    allocated = stored.dtype.itemsize * 8
    ds.BitsAllocated = allocated
    ds.BitsStored = bits_stored or allocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    if encapsulated_frames is not None:
        ds.PixelData = encapsulate(encapsulated_frames)
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
    else:
        ds.PixelData = np.ascontiguousarray(stored).tobytes()
        if transfer_syntax == RLELossless:
            ds.compress(RLELossless)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def multipart(data: bytes, filename: str = "image.png", content_type: str = "image/png") -> dict[str, Any]:
    """``files=`` argument for httpx."""
    return {"file": (filename, data, content_type)}


def overlay_image(body: dict[str, Any]) -> Image.Image:
    """The Grad-CAM overlay a ``/predict`` answer carries, decoded."""
    image = Image.open(io.BytesIO(base64.b64decode(body["gradcam"]["overlay_png_base64"])))
    image.load()
    return image


def synthetic_xray(label: int, seed: int, size: tuple[int, int] = (40, 48)) -> Image.Image:
    """A grayscale picture whose brightness pattern depends on the class, so a model can learn it."""
    rng = np.random.default_rng(seed)
    h, w = size
    base = rng.normal(100, 20, size=(h, w))
    band = slice(label * h // 3, (label + 1) * h // 3)
    base[band, :] += 80
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), mode="L")
