"""Getting the image's bytes out of a request, in memory only, and what kind of image they are.

Starlette's form parser spools uploads over 1 MB to a temporary file; uploads here must never touch the
disk, so the body is read (bounded by ``max_body_bytes``) and the multipart part is parsed from memory.
The kind is read from the image's first bytes and checked against :data:`ACCEPTED_KINDS` here, so an
unaccepted one is refused before any decoder runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from ml.decoding import DecodeError, ImageKind, UnsupportedFormatError, sniff, summarize
from service.errors import (
    ClientDisconnectedError,
    InvalidImageError,
    MalformedRequestError,
    MissingFileError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

FILE_FIELD: Final = "file"
MULTIPART: Final = "multipart/form-data"
RAW_IMAGE_TYPES: Final = ("image/png", "image/jpeg", "application/dicom")
RAW_BODY_TYPES: Final = (*RAW_IMAGE_TYPES, "application/octet-stream")
"""What a raw body may declare: an image type, or the generic binary type that many clients send by
default. The kind is read from the bytes either way."""
_MAX_PARTS: Final = 16
ACCEPTED_KINDS: Final = frozenset({ImageKind.PNG, ImageKind.JPEG, ImageKind.DICOM})
"""What the API takes and documents; the decoder reads WebP and BMP too, for the training data."""


@dataclass(frozen=True)
class ImageUpload:
    data: bytes
    kind: ImageKind
    """What the data's first bytes show, one of :data:`ACCEPTED_KINDS`."""


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise MalformedRequestError(
                f"Content-Length {declared[:32]!r} is not a number of bytes."
            ) from None
        if size > limit:
            raise PayloadTooLargeError(f"The request body is {size} bytes; the limit is {limit}.")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise PayloadTooLargeError(f"The request body is larger than the limit of {limit} bytes.")
    except ClientDisconnect:
        raise ClientDisconnectedError("The client disconnected while sending the body.") from None
    return bytes(body)


def image_upload(content_type: str | None, body: bytes) -> ImageUpload:
    """The image's bytes (:func:`extract_image`) and their kind (:func:`accepted_kind`). Blocking."""
    data = extract_image(content_type, body)
    return ImageUpload(data, accepted_kind(data))


def accepted_kind(data: bytes) -> ImageKind:
    """The accepted kind the data's first bytes show, before any decoder runs: anything else is 415, no
    bytes at all 422. The declared type only chose how to read the body (:func:`extract_image`)."""
    try:
        return sniff(data, ACCEPTED_KINDS)
    except UnsupportedFormatError as exc:
        raise UnsupportedMediaTypeError(exc.detail) from exc
    except DecodeError as exc:  # sniff's only other failure: an empty image
        raise InvalidImageError(exc.detail) from exc


def extract_image(content_type: str | None, body: bytes) -> bytes:
    """The image's bytes: the ``file`` part of a multipart body, or the raw body. Blocking (parsing)."""
    media_type, options = parse_options_header(content_type)
    media = media_type.decode("latin-1")
    if media == MULTIPART:
        return _file_part(body, options.get(b"boundary"))
    if media in RAW_BODY_TYPES:
        return body
    raise UnsupportedMediaTypeError(
        f"{_describe(content_type, media)} Send {MULTIPART} with the image in a field named "
        f"'{FILE_FIELD}', or the image itself with Content-Type {', '.join(RAW_BODY_TYPES)}."
    )


def _describe(header: str | None, media: str) -> str:
    """What was wrong with the Content-Type header, quoting at most 100 characters of it."""
    if header is None or not header.strip():
        return "The Content-Type header is missing."
    if not media or "/" not in media:
        return f"Content-Type {header.strip()[:100]!r} is not a valid media type."
    return f"Content-Type {media[:100]!r} is not accepted."


@dataclass
class _Part:
    name: str | None = None
    data: bytearray = field(default_factory=bytearray)
    complete: bool = False


@dataclass
class _Collector:
    """python-multipart callbacks that keep only the ``file`` part's bytes."""

    parts: list[_Part] = field(default_factory=list)
    header_name: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    disposition: bytes = b""
    ended: bool = False

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.on_part_begin,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_header_field": lambda data, start, end: self.header_name.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self.header_value.extend(data[start:end]),
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        if len(self.parts) >= _MAX_PARTS:
            raise MalformedRequestError(f"The multipart body has more than {_MAX_PARTS} parts.")
        self.parts.append(_Part())
        self.disposition = b""

    def on_header_end(self) -> None:
        if bytes(self.header_name).strip().lower() == b"content-disposition":
            self.disposition = bytes(self.header_value)
        self.header_name.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        # The part's file name and declared type are ignored on purpose: the content decides.
        _, options = parse_options_header(self.disposition.decode("latin-1"))
        name = options.get(b"name")
        self.parts[-1].name = name.decode("utf-8", "replace") if name is not None else None

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.parts[-1]
        if part.name == FILE_FIELD:
            part.data.extend(data[start:end])

    def on_part_end(self) -> None:
        self.parts[-1].complete = True

    def on_end(self) -> None:
        self.ended = True


def _file_part(body: bytes, boundary: bytes | None) -> bytes:
    if not boundary:
        raise MalformedRequestError("The multipart Content-Type has no boundary parameter.")
    collector = _Collector()
    try:
        parser = MultipartParser(boundary, collector.callbacks())
        parser.write(body)
        parser.finalize()
    except ValueError as exc:  # FormParserError is one; a malformed boundary raises a plain one
        raise MalformedRequestError(f"The multipart body could not be parsed ({summarize(exc)}).") from exc
    if not collector.ended:
        raise MalformedRequestError("The multipart body ends before its closing boundary; was it truncated?")
    files = [part for part in collector.parts if part.name == FILE_FIELD and part.complete]
    if not files:
        raise MissingFileError(
            f"The multipart body has no part named '{FILE_FIELD}'; send the image in that field."
        )
    if len(files) > 1:
        raise MalformedRequestError(
            f"The multipart body has {len(files)} parts named '{FILE_FIELD}'; send one."
        )
    return bytes(files[0].data)
