"""Decoding every supported input to the grayscale image a viewer would show."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import JPEGBaseline8Bit, RLELossless

from service.decoding import DecodeLimits, ImageKind, decode_image, sniff
from service.errors import (
    ImageTooLargeError,
    ImageTooSmallError,
    InvalidImageError,
    UnsupportedMediaTypeError,
)
from tests.support.images import dicom_bytes, encode, pattern, to_uint8

LIMITS = DecodeLimits(max_pixels=10_000_000, min_side=8)
GRAY8 = to_uint8(pattern(48, 40))
EXPECTED = GRAY8.astype(np.float32) / 255


def decode(data: bytes) -> np.ndarray:
    return decode_image(data, LIMITS).pixels


def test_sniffing_uses_magic_bytes() -> None:
    assert sniff(encode(Image.fromarray(GRAY8), "PNG")) is ImageKind.PNG
    assert sniff(encode(Image.fromarray(GRAY8), "JPEG")) is ImageKind.JPEG
    assert sniff(dicom_bytes(GRAY8)) is ImageKind.DICOM
    with pytest.raises(UnsupportedMediaTypeError):
        sniff(b"BM" + b"\0" * 200)


# ---- PNG -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode",
    ["L", "RGB", "RGBA", "P", "LA", "I;16"],
    ids=["gray8", "rgb", "rgba", "palette", "gray-alpha", "gray16"],
)
def test_png_modes_decode_to_the_same_gray_image(mode: str) -> None:
    gray = Image.fromarray(GRAY8)
    if mode == "I;16":
        image = Image.fromarray(GRAY8.astype(np.uint16) * 257)
    elif mode == "P":
        image = gray.convert("RGB").quantize(256, method=Image.Quantize.MAXCOVERAGE)
    else:
        image = gray.convert(mode)
    assert image.mode == mode

    decoded = decode(encode(image, "PNG"))

    assert decoded.dtype == np.float32
    assert decoded.shape == (48, 40)
    assert np.abs(decoded - EXPECTED).max() <= (2 / 255 if mode == "P" else 1e-6)


def test_sixteen_bit_png_keeps_its_precision() -> None:
    values = np.linspace(0, 65535, 48 * 40).reshape(48, 40).astype(np.uint16)

    decoded = decode(encode(Image.fromarray(values), "PNG"))

    assert np.allclose(decoded, values / 65535, atol=1e-6)
    assert len(np.unique(decoded)) == 48 * 40


def test_transparent_pixels_are_shown_as_black() -> None:
    rgba = Image.fromarray(GRAY8).convert("RGBA")
    alpha = np.full(GRAY8.shape, 255, np.uint8)
    alpha[:, :20] = 0
    rgba.putalpha(Image.fromarray(alpha))

    decoded = decode(encode(rgba, "PNG"))

    assert np.all(decoded[:, :20] == 0)
    assert np.allclose(decoded[:, 20:], EXPECTED[:, 20:], atol=1e-6)


# ---- JPEG ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "options"),
    [("L", {}), ("RGB", {}), ("RGB", {"progressive": True}), ("CMYK", {})],
    ids=["gray", "rgb", "progressive", "cmyk"],
)
def test_jpeg_variants_decode_close_to_the_original(mode: str, options: dict[str, bool]) -> None:
    image = Image.fromarray(GRAY8).convert(mode)

    decoded = decode(encode(image, "JPEG", quality=98, **options))

    assert decoded.shape == (48, 40)
    assert np.abs(decoded - EXPECTED).mean() < 0.02


@pytest.mark.parametrize(
    ("orientation", "transpose"),
    [(6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270), (3, Image.Transpose.ROTATE_180)],
)
def test_jpeg_exif_orientation_is_applied(orientation: int, transpose: Image.Transpose) -> None:
    # A camera stores the sensor's pixels and the rotation that shows them upright in the EXIF tag.
    stored = Image.fromarray(GRAY8).transpose(transpose)
    exif = Image.Exif()
    exif[0x0112] = orientation

    decoded = decode(encode(stored, "JPEG", quality=98, exif=exif))

    assert decoded.shape == (48, 40)
    assert np.abs(decoded - EXPECTED).mean() < 0.02


# ---- DICOM ---------------------------------------------------------------------------------------


def test_monochrome2_without_window_is_stretched_over_its_range() -> None:
    decoded = decode(dicom_bytes(GRAY8))

    assert np.allclose(decoded, EXPECTED, atol=1e-6)


@pytest.mark.parametrize("bits", [10, 12, 16])
def test_high_bit_depth_dicom_is_scaled_by_its_real_range(bits: int) -> None:
    stored = np.rint(EXPECTED.astype(np.float64) * (2**bits - 1)).astype(np.uint16)

    decoded = decode(dicom_bytes(stored, bits_stored=bits))

    assert np.allclose(decoded, EXPECTED, atol=1 / 255)


def test_monochrome1_is_inverted() -> None:
    stored = GRAY8.astype(np.uint16) * 16

    mono1 = decode(dicom_bytes(stored, photometric="MONOCHROME1", bits_stored=12))
    twin = decode(dicom_bytes(4095 - stored, photometric="MONOCHROME2", bits_stored=12))

    assert np.allclose(mono1, 1 - EXPECTED, atol=1e-6)
    assert np.allclose(mono1, twin, atol=1e-6)


def test_linear_window_is_applied_after_the_modality_rescale() -> None:
    # Stored 0..4095 with slope 2, intercept -1000: the rescaled values span -1000..7190.
    stored = np.tile(np.arange(0, 4096, 64, dtype=np.uint16), (16, 1))
    data = dicom_bytes(
        stored, bits_stored=12, RescaleSlope=2, RescaleIntercept=-1000, WindowCenter=1000, WindowWidth=2001
    )

    decoded = decode(data)

    rescaled = stored.astype(np.float64) * 2 - 1000
    expected = np.clip((rescaled - 999.5) / 2000 + 0.5, 0, 1)
    assert np.allclose(decoded, expected, atol=1e-6)
    assert decoded.min() == 0 and decoded.max() == 1


def test_sigmoid_window_follows_the_standard() -> None:
    stored = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (16, 1))

    decoded = decode(dicom_bytes(stored, WindowCenter=128, WindowWidth=64, VOILUTFunction="SIGMOID"))

    assert np.allclose(decoded, 1 / (1 + np.exp(-4 * (stored - 128.0) / 64)), atol=1e-6)


def test_voi_lut_sequence_is_applied_and_preferred_over_the_window() -> None:
    item = Dataset()
    item.add_new(0x00283002, "US", [256, 0, 8])  # LUT Descriptor: 256 entries from 0, 8 bits each
    item.add_new(0x00283006, "US", list(range(255, -1, -1)))  # LUT Data: inverting, to be unmistakable
    stored = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (16, 1))

    decoded = decode(dicom_bytes(stored, VOILUTSequence=Sequence([item]), WindowCenter=10, WindowWidth=5))

    assert np.allclose(decoded, (255 - stored) / 255, atol=1e-6)


def test_rgb_dicom_is_converted_to_luma() -> None:
    rgb = np.stack([GRAY8] * 3, axis=-1)

    decoded = decode(dicom_bytes(rgb, photometric="RGB"))

    assert np.allclose(decoded, EXPECTED, atol=1 / 255)


def test_rle_compressed_dicom_decodes_like_the_uncompressed_one() -> None:
    assert np.array_equal(decode(dicom_bytes(GRAY8, transfer_syntax=RLELossless)), decode(dicom_bytes(GRAY8)))


def test_jpeg_baseline_dicom_is_decoded_by_the_installed_plugin() -> None:
    frame = encode(Image.fromarray(GRAY8), "JPEG", quality=98)

    decoded = decode(dicom_bytes(GRAY8, transfer_syntax=JPEGBaseline8Bit, encapsulated_frames=[frame]))

    assert np.abs(decoded - EXPECTED).mean() < 0.02


@pytest.mark.parametrize(
    ("data", "error", "detail"),
    [
        (dicom_bytes(GRAY8, photometric="PALETTE COLOR"), InvalidImageError, "PALETTE COLOR"),
        (dicom_bytes(GRAY8, WindowCenter=100, WindowWidth=0), InvalidImageError, "Window Width"),
        (dicom_bytes(GRAY8)[:-500], InvalidImageError, "cannot be decoded"),
    ],
    ids=["palette", "zero-window", "short-pixel-data"],
)
def test_unusable_dicom_is_rejected_with_a_reason(data: bytes, error: type[Exception], detail: str) -> None:
    with pytest.raises(error, match=detail):
        decode(data)


def test_dicom_without_pixel_data_is_rejected() -> None:
    data = dicom_bytes(GRAY8)

    ds = dcmread(io.BytesIO(data))
    del ds.PixelData
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)

    with pytest.raises(InvalidImageError, match="no \\(integer\\) pixel data"):
        decode(buffer.getvalue())


# ---- limits --------------------------------------------------------------------------------------


def test_pixel_limit_is_checked_on_the_header_before_decoding() -> None:
    with pytest.raises(ImageTooLargeError, match="40x48"):
        decode_image(encode(Image.fromarray(GRAY8), "PNG"), DecodeLimits(max_pixels=1000, min_side=1))


def test_minimum_side_applies_after_orientation() -> None:
    with pytest.raises(ImageTooSmallError, match="40x48"):
        decode_image(encode(Image.fromarray(GRAY8), "PNG"), DecodeLimits(max_pixels=10**6, min_side=41))
