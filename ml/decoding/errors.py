"""Why bytes could not become an image: the decoder's own exceptions, free of any HTTP meaning.

The service maps each class to a problem type (:func:`service.upload.accepted_kind` those of the format
check, :func:`service.pipeline.decode_upload` those of decoding); training lets them propagate. A message
may quote the file's header values (sizes, DICOM transfer syntaxes), never pixel data or patient fields,
and is meant for the one who sent the file, not for logs.
"""

from __future__ import annotations

import re


class DecodeError(Exception):
    """The bytes are not an image this decoder can read; ``detail`` says why, in a sentence."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class UnreadableImageError(DecodeError):
    """A recognised format whose data is truncated, corrupt or unusable (no pixels, many frames, ...)."""


class TooManyPixelsError(DecodeError):
    """The header claims more pixels than allowed; raised before any pixel is decoded."""

    @classmethod
    def check(cls, width: int, height: int, max_pixels: int) -> None:
        if width * height > max_pixels:
            raise cls(f"The image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}.")


class SideTooShortError(DecodeError):
    """A side is shorter than allowed."""


class UnsupportedFormatError(DecodeError):
    """Not one of the allowed formats, or a DICOM encoding pydicom has no decoder for at all."""


class DecoderNotInstalledError(DecodeError):
    """A DICOM encoding whose decoder plugin is not installed."""


_OBJECT_REPR = re.compile(r"\s*<[^<>]* at 0x[0-9a-fA-F]+>")
_ADDRESS = re.compile(r"\s+at 0x[0-9a-fA-F]+")


def summarize(exc: BaseException) -> str:
    """A parser's exception as one short line for a detail (never logged: it may quote data).

    Python object reprs and addresses (``<_io.BytesIO object at 0x7f...>``) are dropped: they mean
    nothing to a client, and an address tells an attacker about the process's memory layout.
    """
    text = _ADDRESS.sub("", _OBJECT_REPR.sub("", str(exc)))
    lines = text.strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__
