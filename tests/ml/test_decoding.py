"""Decoding every supported input to the grayscale image a viewer would show: in serving and in training."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import JPEGBaseline8Bit, RLELossless

import ml.decoding
from ml.data import decode_gray
from ml.decoding import (
    ALL_KINDS,
    DecodeLimits,
    ImageKind,
    SideTooShortError,
    TooManyPixelsError,
    UnreadableImageError,
    UnsupportedFormatError,
    decode_as,
    decode_image,
    sniff,
    summarize,
)
from tests.support.images import dicom_bytes, encode, pattern, png_claiming, to_uint8

LIMITS = DecodeLimits(max_pixels=10_000_000, min_side=8)
SERVED = frozenset({ImageKind.PNG, ImageKind.JPEG, ImageKind.DICOM})
GRAY8 = to_uint8(pattern(48, 40))
EXPECTED = GRAY8.astype(np.float32) / 255


def decode(data: bytes, limits: DecodeLimits = LIMITS) -> np.ndarray:
    return decode_image(data, limits, allowed=ALL_KINDS).pixels


@pytest.mark.parametrize("kind", list(ImageKind))
def test_sniffing_uses_magic_bytes(kind: ImageKind) -> None:
    image = Image.fromarray(GRAY8)
    data = dicom_bytes(GRAY8) if kind is ImageKind.DICOM else encode(image, kind.value.upper())

    assert sniff(data, ALL_KINDS) is kind


def test_a_kind_outside_the_allowed_ones_is_unsupported_and_the_allowed_ones_are_named() -> None:
    bmp = encode(Image.fromarray(GRAY8), "BMP")

    with pytest.raises(
        UnsupportedFormatError, match=r"^The upload is neither PNG, JPEG nor DICOM .*'DICM'\.$"
    ):
        sniff(bmp, SERVED)
    with pytest.raises(UnsupportedFormatError, match="neither PNG, JPEG, WebP, BMP nor DICOM"):
        sniff(b"GIF89a" + b"\0" * 200, ALL_KINDS)
    with pytest.raises(UnsupportedFormatError, match=r"^The upload is not PNG [^D]*$"):
        sniff(bmp, {ImageKind.PNG})


def test_empty_data_is_an_invalid_image() -> None:
    with pytest.raises(UnreadableImageError, match="empty"):
        sniff(b"", SERVED)


def kind_sample(kind: ImageKind) -> bytes:
    image = Image.fromarray(GRAY8)
    return dicom_bytes(GRAY8) if kind is ImageKind.DICOM else encode(image, kind.value.upper())


@pytest.mark.parametrize("kind", list(ImageKind))
def test_decoding_as_a_known_kind_gives_what_sniffing_first_gives(kind: ImageKind) -> None:
    data = kind_sample(kind)

    known, sniffed = decode_as(data, kind, LIMITS), decode_image(data, LIMITS, allowed=ALL_KINDS)

    assert known.kind is sniffed.kind is kind and known.facts() == sniffed.facts()
    assert np.array_equal(known.pixels, sniffed.pixels)


def test_decoding_as_a_known_kind_does_not_sniff_again(monkeypatch: pytest.MonkeyPatch) -> None:
    def sniffed(*args: object) -> ImageKind:
        raise AssertionError("sniffed again")

    monkeypatch.setattr(ml.decoding, "sniff", sniffed)

    assert decode_as(kind_sample(ImageKind.PNG), ImageKind.PNG, LIMITS).kind is ImageKind.PNG


def test_data_decoded_as_another_kind_fails_as_a_damaged_file_of_that_kind() -> None:
    with pytest.raises(UnreadableImageError, match=r"^The JPEG data is truncated or corrupt"):
        decode_as(kind_sample(ImageKind.PNG), ImageKind.JPEG, LIMITS)


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
        (dicom_bytes(GRAY8, photometric="PALETTE COLOR"), UnreadableImageError, "PALETTE COLOR"),
        (dicom_bytes(GRAY8, WindowCenter=100, WindowWidth=0), UnreadableImageError, "Window Width"),
        (dicom_bytes(GRAY8)[:-500], UnreadableImageError, "cannot be decoded"),
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

    with pytest.raises(UnreadableImageError, match="no \\(integer\\) pixel data"):
        decode(buffer.getvalue())


# ---- limits --------------------------------------------------------------------------------------


def test_pixel_limit_is_checked_on_the_header_before_decoding() -> None:
    with pytest.raises(TooManyPixelsError, match="40x48"):
        decode(encode(Image.fromarray(GRAY8), "PNG"), DecodeLimits(max_pixels=1000, min_side=1))


def test_a_header_over_pillows_own_limit_is_refused_with_the_decoders_message_and_limit() -> None:
    data = png_claiming(60000, 60000)  # 3.6 gigapixels: 20 times Pillow's own error threshold
    assert len(data) == 45

    with pytest.raises(TooManyPixelsError) as refused:
        decode(data, DecodeLimits(max_pixels=40_000_000, min_side=1))

    assert refused.value.detail == "The image is 60000x60000 = 3600000000 pixels; the limit is 40000000."


def test_a_limit_above_pillows_own_is_the_one_that_applies() -> None:
    # 200 megapixels is over Pillow's threshold (about 179), under this limit: the header passes, and the
    # missing pixel data is what fails.
    with pytest.raises(UnreadableImageError, match="PNG data is truncated or corrupt"):
        decode(png_claiming(20000, 10000), DecodeLimits(max_pixels=300_000_000, min_side=1))


def test_minimum_side_applies_after_orientation() -> None:
    with pytest.raises(SideTooShortError, match="40x48"):
        decode(encode(Image.fromarray(GRAY8), "PNG"), DecodeLimits(max_pixels=10**6, min_side=41))


# ---- the training data's formats -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "options"), [("WEBP", {"lossless": True}), ("BMP", {})], ids=["webp-lossless", "bmp"]
)
def test_training_formats_decode_to_the_same_gray_image(fmt: str, options: dict[str, bool]) -> None:
    decoded = decode(encode(Image.fromarray(GRAY8).convert("RGB"), fmt, **options))

    assert np.abs(decoded - EXPECTED).max() <= 1e-6


def test_transparent_webp_pixels_are_shown_as_black_too() -> None:
    rgba = Image.fromarray(GRAY8).convert("RGBA")
    alpha = np.full(GRAY8.shape, 255, np.uint8)
    alpha[:, :20] = 0
    rgba.putalpha(Image.fromarray(alpha))

    decoded = decode(encode(rgba, "WEBP", lossless=True, exact=True))

    assert np.all(decoded[:, :20] == 0)
    assert np.allclose(decoded[:, 20:], EXPECTED[:, 20:], atol=1e-6)


def test_colour_is_measured_unless_only_the_pixels_are_wanted() -> None:
    rgb = np.stack([GRAY8, GRAY8 // 2, GRAY8], axis=-1)
    data = encode(Image.fromarray(rgb), "PNG")

    measured = decode_image(data, LIMITS, allowed=ALL_KINDS)
    pixels_only = decode_image(data, LIMITS, allowed=ALL_KINDS, measure_colour=False)

    assert measured.colour_fraction > 0.5 and pixels_only.colour_fraction == 0.0
    assert np.array_equal(measured.pixels, pixels_only.pixels)


# ---- training and serving agree ------------------------------------------------------------------


def rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(Image.fromarray(GRAY8).transpose(Image.Transpose.ROTATE_90), "JPEG", quality=98, exif=exif)


def half_transparent_png() -> bytes:
    rgba = Image.fromarray(GRAY8).convert("RGBA")
    rgba.putalpha(128)
    return encode(rgba, "PNG")


@pytest.mark.parametrize(
    "data",
    [rotated_jpeg(), half_transparent_png(), encode(Image.fromarray(GRAY8.astype(np.uint16) * 257), "PNG")],
    ids=["exif-rotated-jpeg", "half-transparent-png", "gray16-png"],
)
def test_a_training_file_decodes_to_the_pixels_the_service_would_see(data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "image"
    path.write_bytes(data)

    served = decode_image(data, DecodeLimits(max_pixels=40_000_000, min_side=8), allowed=SERVED)

    assert np.array_equal(decode_gray(path), served.pixels)


def test_a_corrupt_training_file_is_named_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.webp"
    path.write_bytes(encode(Image.fromarray(GRAY8), "WEBP")[:40])

    with pytest.raises(UnreadableImageError, match="WEBP") as refused:
        decode_gray(path)

    assert any("broken.webp" in note for note in refused.value.__notes__)


# ---- details -------------------------------------------------------------------------------------


def test_summaries_hold_no_python_object_address() -> None:
    class ParserError(Exception):
        pass

    text = summarize(ParserError("cannot identify image file <_io.BytesIO object at 0x7f3a2c1d9e40>"))
    bare = summarize(ParserError("bad chunk at 0x7ffde2a0 in stream"))

    assert text == "ParserError: cannot identify image file"
    assert "0x" not in bare and bare.startswith("ParserError: bad chunk")


def test_an_unidentifiable_png_is_refused_without_a_python_object_in_the_detail() -> None:
    png_signature_then_garbage = b"\x89PNG\r\n\x1a\n" + b"\0" * 40

    with pytest.raises(UnreadableImageError) as refused:
        decode_image(png_signature_then_garbage, DecodeLimits(max_pixels=10**6, min_side=16), allowed=SERVED)

    assert "0x" not in refused.value.detail and "BytesIO" not in refused.value.detail
