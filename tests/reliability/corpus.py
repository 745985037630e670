"""The bad-input corpus: every kind of malformed, hostile or merely unusual request, built by code.

Each :class:`BadInput` knows how to send itself with an ``httpx.AsyncClient`` (in-process or over a
socket) and what the service must answer: a status and, for errors, the problem type of an
``application/problem+json`` body. Unusual but valid inputs (16-bit, CMYK, palette, a lying declared
type, a hostile file name) are in the corpus too: their expected answer is 200.
No file is committed; nothing here is a real X-ray.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import httpx
import numpy as np
from PIL import Image, PngImagePlugin
from pydicom.pixels.decoders.base import get_decoder
from pydicom.uid import ExplicitVRBigEndian, JPEGBaseline8Bit, JPEGLSLossless

from tests.support.images import dicom_bytes, encode, jpeg_bytes, pattern, png_bytes, to_uint8

from .config import API_KEY, AUTH, CORPUS_LIMITS

PROBLEM = "urn:cxr-service:problem:"
OK: Final = 200

Send = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


@dataclass(frozen=True)
class BadInput:
    name: str
    status: int
    problem: str | None
    """The problem type's last part (``invalid-image``), ``about:blank`` for routing errors, None for 200."""
    send: Send
    over_http: bool = True
    """False for requests an HTTP client library refuses to put on the wire (they run in-process only)."""

    @property
    def problem_type(self) -> str | None:
        if self.problem is None or self.problem == "about:blank":
            return self.problem
        return PROBLEM + self.problem


# --- request builders ----------------------------------------------------------------------------------


def upload(data: bytes, filename: str = "image.png", declared: str = "application/octet-stream") -> Send:
    """Multipart with the bytes in field ``file``."""

    def send(client: httpx.AsyncClient) -> Awaitable[httpx.Response]:
        return client.post("/predict", files={"file": (filename, data, declared)}, headers=AUTH)

    return send


def raw(data: bytes | None, content_type: str | None, *, params: dict[str, str] | None = None) -> Send:
    """The bytes as the whole body, with this Content-Type (none when None)."""
    headers = dict(AUTH)
    if content_type is not None:
        headers["content-type"] = content_type

    def send(client: httpx.AsyncClient) -> Awaitable[httpx.Response]:
        return client.post("/predict", content=data or b"", headers=headers, params=params)

    return send


def request(method: str, path: str, *, headers: dict[str, Any] | None = None, **kwargs: Any) -> Send:
    def send(client: httpx.AsyncClient) -> Awaitable[httpx.Response]:
        return client.request(method, path, headers=headers if headers is not None else AUTH, **kwargs)

    return send


def multipart_body(parts: list[tuple[bytes, bytes]], boundary: bytes = b"cxr-boundary") -> bytes:
    """A hand-written multipart body: ``(Content-Disposition value, data)`` per part."""
    out = b""
    for disposition, data in parts:
        out += b"--" + boundary + b"\r\nContent-Disposition: " + disposition + b"\r\n"
        out += b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


def hand_multipart(body: bytes, boundary: str = "cxr-boundary") -> Send:
    return raw(body, f"multipart/form-data; boundary={boundary}")


# --- images ----------------------------------------------------------------------------------------------


def gray(height: int = 64, width: int = 64, seed: int = 0) -> Image.Image:
    return Image.fromarray(to_uint8(pattern(height, width, seed)))


def png_with_bad_crc() -> bytes:
    data = bytearray(png_bytes())
    data[29] ^= 0xFF  # the IHDR chunk's CRC (8 signature + 8 length/type + 13 data)
    return bytes(data)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_with_text_bomb() -> bytes:
    """A valid PNG with a zTXt chunk that inflates from a few kB to 64 MB."""
    data = png_bytes()
    bomb = png_chunk(b"zTXt", b"comment\0\0" + zlib.compress(b"\0" * (64 * 2**20), 9))
    return data[:33] + bomb + data[33:]  # right after IHDR


def png_bomb(side: int = 3000) -> bytes:
    """Few kilobytes, ``side`` x ``side`` pixels claimed and really there."""
    return encode(Image.new("L", (side, side)), "PNG", optimize=True)


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose frame header (SOF0) claims another size."""
    data = bytearray(jpeg_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def png_16bit() -> bytes:
    values = np.asarray(pattern() * 65535, dtype=np.uint16)
    return encode(Image.fromarray(values), "PNG")


def png_palette(transparency: bool = False) -> bytes:
    image = gray().convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    if transparency:
        return encode(image, "PNG", transparency=0)
    return encode(image, "PNG")


def png_rgba() -> bytes:
    image = gray().convert("RGBA")
    image.putalpha(200)
    return encode(image, "PNG")


def png_with_text(text: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", text)
    return encode(gray(), "PNG", pnginfo=info)


def jpeg_cmyk() -> bytes:
    return encode(gray().convert("CMYK"), "JPEG", quality=90)


def jpeg_exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to view
    return encode(gray(64, 96), "JPEG", quality=90, exif=exif)


def animated_gif() -> bytes:
    frames = [gray(seed=seed).convert("P") for seed in range(3)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def zip_file() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xray.png", png_bytes())
    return buffer.getvalue()


def dicom(**kwargs: Any) -> bytes:
    return dicom_bytes(to_uint8(pattern()), **kwargs)


def dicom_without_pixels() -> bytes:
    data = dicom()
    return data[: data.rindex(b"\xe0\x7f\x10\x00")]  # cut at the (7FE0,0010) Pixel Data tag


def dicom_preamble_only() -> bytes:
    return b"\0" * 128 + b"DICM"


def dicom_claiming_syntax(uid: str) -> bytes:
    """Explicit VR Little Endian data under a meta header that names transfer syntax ``uid`` instead."""
    data = bytearray(dicom())
    actual = b"1.2.840.10008.1.2.1\0"
    claimed = uid.encode().ljust(len(actual), b"\0")
    assert len(claimed) == len(actual), "the UID must fit in place"
    at = data.index(actual)
    data[at : at + len(actual)] = claimed
    return bytes(data)


def streamed(size: int, chunk: int = 64 * 1024) -> Send:
    """A chunked body (no Content-Length) of ``size`` bytes."""

    async def chunks() -> AsyncIterator[bytes]:
        sent = 0
        while sent < size:
            yield b"\0" * min(chunk, size - sent)
            sent += chunk

    def send(client: httpx.AsyncClient) -> Awaitable[httpx.Response]:
        return client.post("/predict", content=chunks(), headers={**AUTH, "content-type": "image/png"})

    return send


def _missing_decoder_expectation() -> tuple[int, str]:
    if get_decoder(JPEGLSLossless).is_available:
        return 422, "invalid-image"  # decoder installed: the one-marker frame is then just corrupt
    return 415, "missing-decoder"


# --- the corpus ------------------------------------------------------------------------------------------


def build_corpus() -> list[BadInput]:
    body_limit = int(CORPUS_LIMITS["max_body_bytes"])
    pixels = to_uint8(pattern())
    jpeg_ls = _missing_decoder_expectation()
    html = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
    png = png_bytes()
    kinds = [
        # Damaged PNG and JPEG.
        BadInput("png-truncated", 422, "invalid-image", upload(png[:200])),
        BadInput("png-bad-header-crc", 422, "invalid-image", upload(png_with_bad_crc())),
        BadInput("png-signature-then-garbage", 422, "invalid-image", upload(png[:8] + bytes(range(256)) * 4)),
        BadInput("png-ztxt-text-bomb", 422, "invalid-image", upload(png_with_text_bomb())),
        BadInput("jpeg-truncated", 422, "invalid-image", upload(jpeg_bytes()[:300])),
        BadInput("jpeg-soi-then-garbage", 422, "invalid-image", upload(b"\xff\xd8\xff" + b"\x13" * 500)),
        # Empty and not an image at all.
        BadInput("zero-bytes-multipart", 422, "invalid-image", upload(b"")),
        BadInput("zero-bytes-raw", 422, "invalid-image", raw(b"", "image/png")),
        BadInput("plain-text", 415, "unsupported-media-type", upload(b"just some text\n" * 10, "x.png")),
        BadInput("html", 415, "unsupported-media-type", upload(html, "x.html", "text/html")),
        BadInput("zip", 415, "unsupported-media-type", upload(zip_file(), "xray.zip")),
        BadInput(
            "pdf", 415, "unsupported-media-type", upload(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\n")
        ),
        BadInput("json-body", 415, "unsupported-media-type", raw(b'{"image": "..."}', "application/json")),
        # Other image formats: recognised by content, not accepted.
        BadInput("gif-animated", 415, "unsupported-media-type", upload(animated_gif(), "x.png", "image/png")),
        BadInput("tiff", 415, "unsupported-media-type", upload(encode(gray(), "TIFF"), "x.png")),
        BadInput("bmp", 415, "unsupported-media-type", upload(encode(gray(), "BMP"), "x.png")),
        BadInput("webp", 415, "unsupported-media-type", upload(encode(gray(), "WEBP"), "x.png")),
        # Sizes: bombs, huge claims, tiny, elongated.
        BadInput("png-decompression-bomb", 413, "image-too-large", upload(png_bomb())),
        BadInput("jpeg-claims-60000x60000", 413, "image-too-large", upload(jpeg_claiming(60000, 60000))),
        BadInput("png-1x1", 422, "image-too-small", upload(encode(Image.new("L", (1, 1)), "PNG"))),
        BadInput("png-thin-line-4000x8", 422, "image-too-small", upload(encode(gray(8, 4000), "PNG"))),
        BadInput("png-aspect-1-to-125", OK, None, upload(encode(gray(16, 2000), "PNG"))),
        BadInput(
            "png-aspect-too-long-to-scale",
            413,
            "image-too-large",
            upload(encode(Image.new("L", (100_000, 16), 128), "PNG")),
        ),
        # Unusual but valid encodings.
        BadInput("png-16bit", OK, None, upload(png_16bit())),
        BadInput("png-palette", OK, None, upload(png_palette())),
        BadInput("png-palette-transparency", OK, None, upload(png_palette(transparency=True))),
        BadInput("png-rgba", OK, None, upload(png_rgba())),
        BadInput("png-interlaced", OK, None, upload(encode(gray(), "PNG", interlace=1))),
        BadInput("jpeg-cmyk", OK, None, upload(jpeg_cmyk())),
        BadInput("jpeg-progressive", OK, None, upload(jpeg_bytes(progressive=True))),
        BadInput("jpeg-exif-orientation", OK, None, upload(jpeg_exif_rotated())),
        BadInput("declared-jpeg-but-png", OK, None, raw(png, "image/jpeg")),
        BadInput("declared-dicom-but-png", OK, None, upload(png, "x.dcm", "application/dicom")),
        # DICOM.
        BadInput("dicom-without-pixel-data", 422, "invalid-image", upload(dicom_without_pixels(), "x.dcm")),
        BadInput(
            "dicom-unknown-transfer-syntax",
            415,
            "unsupported-media-type",
            upload(dicom_claiming_syntax("1.2.3.4.5.6.7.8.9.10"), "x.dcm"),
        ),
        BadInput(
            "dicom-lying-transfer-syntax-jpeg",
            422,
            "invalid-image",
            upload(dicom(transfer_syntax=JPEGBaseline8Bit, encapsulated_frames=[pixels.tobytes()]), "x.dcm"),
        ),
        BadInput(
            "dicom-lying-transfer-syntax-big-endian",
            422,
            "invalid-image",
            upload(dicom_claiming_syntax(str(ExplicitVRBigEndian))),
        ),
        BadInput(
            "dicom-jpeg-ls-without-plugin",
            *jpeg_ls,
            upload(
                dicom(transfer_syntax=JPEGLSLossless, encapsulated_frames=[b"\xff\xd8\xff\xd9"]),
                "x.dcm",
            ),
        ),
        BadInput("dicom-truncated", 422, "invalid-image", upload(dicom()[:600], "x.dcm")),
        BadInput("dicom-preamble-only", 422, "invalid-image", upload(dicom_preamble_only(), "x.dcm")),
        BadInput(
            "dicom-multi-frame",
            422,
            "invalid-image",
            upload(dicom_bytes(np.zeros((128, 64), np.uint8), Rows=64, NumberOfFrames=2)),
        ),
        BadInput(
            "dicom-palette-colour", 422, "invalid-image", upload(dicom(photometric="PALETTE COLOR"), "x.dcm")
        ),
        BadInput(
            "dicom-zero-window-width",
            422,
            "invalid-image",
            upload(dicom(WindowCenter=100, WindowWidth=0), "x.dcm"),
        ),
        BadInput(
            "dicom-claims-3000x3000", 413, "image-too-large", upload(dicom(Rows=3000, Columns=3000), "x.dcm")
        ),
        BadInput(
            "dicom-pixel-data-too-short", 422, "invalid-image", upload(dicom(Rows=128, Columns=128), "x.dcm")
        ),
        BadInput("dicom-bits-allocated-7", 422, "invalid-image", upload(dicom(BitsAllocated=7), "x.dcm")),
        BadInput(
            "dicom-raw-body-truncated",
            422,
            "invalid-image",
            raw(dicom_bytes(pixels)[:-100], "application/dicom"),
        ),
        # Multipart and body framing.
        BadInput(
            "wrong-field-name",
            422,
            "missing-file",
            request("POST", "/predict", files={"image": ("x.png", png, "image/png")}),
        ),
        BadInput(
            "two-files",
            400,
            "malformed-request",
            request("POST", "/predict", files=[("file", ("a.png", png, "image/png"))] * 2),
        ),
        BadInput(
            "seventeen-parts",
            400,
            "malformed-request",
            hand_multipart(multipart_body([(b'form-data; name="x%d"' % i, b"x") for i in range(17)])),
        ),
        BadInput(
            "oversize-content-length",
            413,
            "payload-too-large",
            raw(b"\0" * (body_limit + 1), "image/png"),
        ),
        BadInput("oversize-chunked", 413, "payload-too-large", streamed(body_limit * 2)),
        BadInput("multipart-without-boundary", 400, "malformed-request", raw(png, "multipart/form-data")),
        BadInput(
            "multipart-truncated",
            400,
            "malformed-request",
            hand_multipart(multipart_body([(b'form-data; name="file"', png)])[:-40]),
        ),
        BadInput("multipart-garbage", 400, "malformed-request", hand_multipart(b"\x00\x01garbage" * 50)),
        BadInput(
            "multipart-wrong-boundary",
            400,
            "malformed-request",
            hand_multipart(multipart_body([(b'form-data; name="file"', png)]), boundary="other"),
        ),
        BadInput("content-type-text-plain", 415, "unsupported-media-type", raw(png, "text/plain")),
        BadInput("content-type-missing", 415, "unsupported-media-type", raw(png, None)),
        BadInput("content-type-garbage", 415, "unsupported-media-type", raw(png, ";;;===")),
        BadInput(
            "content-length-not-a-number",
            400,
            "malformed-request",
            request(
                "POST",
                "/predict",
                content=png,
                headers={**AUTH, "content-type": "image/png", "content-length": "12abc"},
            ),
            over_http=False,
        ),
        # Query, path, method.
        BadInput(
            "gradcam-not-a-boolean",
            422,
            "invalid-request",
            raw(png, "image/png", params={"gradcam": "perhaps"}),
        ),
        BadInput("gradcam-empty", 422, "invalid-request", raw(png, "image/png", params={"gradcam": ""})),
        BadInput(
            "unknown-query-parameter", OK, None, raw(png, "image/png", params={"debug": "1", "x": "../"})
        ),
        BadInput(
            "path-traversal-dot-dot",
            404,
            "about:blank",
            request("GET", "/static/%2e%2e/%2e%2e/pyproject.toml"),
        ),
        BadInput(
            "path-traversal-encoded-slash", 404, "about:blank", request("GET", "/static/..%2f..%2fREADME.md")
        ),
        BadInput("unknown-route", 404, "about:blank", request("GET", "/predict/../../etc/passwd")),
        BadInput("wrong-method", 405, "about:blank", request("PUT", "/predict", content=png)),
        # File names: never used, never stored.
        BadInput("file-name-path-traversal", OK, None, upload(png, "../../../../etc/passwd")),
        BadInput("file-name-2000-characters", OK, None, upload(png, "x" * 2000 + ".png")),
        BadInput(
            "file-name-100k-characters",
            400,
            "malformed-request",
            upload(png, "x" * 100_000 + ".png"),
        ),
        BadInput(
            "file-name-not-utf8",
            OK,
            None,
            hand_multipart(
                multipart_body([(b'form-data; name="file"; filename="\xff\xfe\x80\xc3(.png"', png)])
            ),
        ),
        BadInput(
            "file-name-with-quotes-and-semicolons",
            OK,
            None,
            hand_multipart(
                multipart_body([(b'form-data; name="file"; filename="a\\";name=\\"x; b.png"', png)])
            ),
        ),
        # Authentication.
        BadInput("no-api-key", 401, "unauthorized", request("POST", "/predict", headers={}, content=png)),
        BadInput(
            "wrong-api-key",
            401,
            "unauthorized",
            request("GET", "/model", headers={"Authorization": "Bearer not-" + API_KEY}),
        ),
        BadInput(
            "api-key-not-ascii",
            401,
            "unauthorized",
            request("GET", "/metrics", headers={"X-API-Key": "schl\u00fcssel".encode()}),
        ),
        BadInput(
            "basic-auth-instead",
            401,
            "unauthorized",
            request("GET", "/model", headers={"Authorization": "Basic Zm9vOmJhcg=="}),
        ),
    ]
    names = [kind.name for kind in kinds]
    assert len(names) == len(set(names)), "corpus names must be unique"
    return kinds
