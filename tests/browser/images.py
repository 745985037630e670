"""Test images made on the fly (Pillow, pydicom): shapes loosely like a chest film, never a real X-ray."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image, ImageDraw
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid


def synthetic_xray(size: tuple[int, int] = (192, 160)) -> Image.Image:
    """A grayscale picture shaped loosely like a chest film: dark lungs in a lighter body. Not an X-ray."""
    width, height = size
    image = Image.new("L", size, 40)
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((width * 0.12, height * 0.08, width * 0.88, height * 0.96), radius=24, fill=170)
    draw.ellipse((width * 0.2, height * 0.18, width * 0.47, height * 0.85), fill=70)
    draw.ellipse((width * 0.53, height * 0.18, width * 0.8, height * 0.85), fill=75)
    draw.rectangle((width * 0.47, height * 0.1, width * 0.53, height * 0.95), fill=210)
    return image


def png_bytes(image: Image.Image | None = None) -> bytes:
    buffer = io.BytesIO()
    (image or synthetic_xray()).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes(image: Image.Image | None = None) -> bytes:
    buffer = io.BytesIO()
    (image or synthetic_xray()).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def dicom_bytes(image: Image.Image | None = None) -> bytes:
    """A minimal uncompressed MONOCHROME2 DICOM Part 10 file of ``image``, with no patient data."""
    pixels = np.asarray(image or synthetic_xray(), dtype=np.uint8)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "OT"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def as_base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
