"""The service's door to the shared decoder: PNG, JPEG and DICOM only, checked before decoding, and every
failure, of that check or of decoding, as the service's problem."""

from __future__ import annotations

import pytest
from PIL import Image

import service.pipeline
from ml import decoding
from ml.decoding import DecodeError, DecodeLimits, ImageKind
from service import errors
from service.errors import ServiceError, UnsupportedMediaTypeError
from service.pipeline import decode_upload
from service.upload import ImageUpload, accepted_kind
from tests.support.app import Service
from tests.support.images import encode, multipart, pattern, to_uint8
from tests.support.problems import assert_problem
from tests.support.spies import forbid_decoding

LIMITS = DecodeLimits(max_pixels=10**6, min_side=8)
PROBLEMS: dict[type[DecodeError], type[ServiceError]] = {
    decoding.UnreadableImageError: errors.InvalidImageError,
    decoding.TooManyPixelsError: errors.ImageTooLargeError,
    decoding.SideTooShortError: errors.ImageTooSmallError,
    decoding.UnsupportedFormatError: errors.UnsupportedMediaTypeError,
    decoding.DecoderNotInstalledError: errors.MissingDecoderError,
}


def test_every_decoder_failure_has_a_problem_type() -> None:
    assert set(DecodeError.__subclasses__()) == set(PROBLEMS)


@pytest.mark.parametrize(("failure", "problem"), PROBLEMS.items(), ids=lambda c: c.__name__)
def test_a_decoder_failure_becomes_its_problem_type_with_the_same_detail(
    failure: type[DecodeError], problem: type[ServiceError], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise failure("what the decoder said")

    monkeypatch.setattr(service.pipeline, "decode_as", refuse)

    with pytest.raises(problem) as raised:
        decode_upload(ImageUpload(b"anything", ImageKind.PNG), LIMITS)

    assert type(raised.value) is problem and raised.value.detail == "what the decoder said"


@pytest.mark.parametrize("fmt", ["WEBP", "BMP"])
def test_formats_read_only_for_training_are_refused(fmt: str) -> None:
    data = encode(Image.fromarray(to_uint8(pattern(32, 32))), fmt)

    with pytest.raises(UnsupportedMediaTypeError, match="neither PNG, JPEG nor DICOM"):
        accepted_kind(data)


@pytest.mark.parametrize(
    ("data", "failure"),
    [(b"", decoding.UnreadableImageError), (b"GIF89a" + bytes(64), decoding.UnsupportedFormatError)],
    ids=["empty", "unsupported"],
)
def test_the_format_check_fails_with_the_problem_type_decoding_would_fail_with(
    data: bytes, failure: type[DecodeError]
) -> None:
    with pytest.raises(failure) as sniffed:
        decoding.sniff(data, {ImageKind.PNG, ImageKind.JPEG, ImageKind.DICOM})

    with pytest.raises(PROBLEMS[failure]) as raised:
        accepted_kind(data)

    assert type(raised.value) is PROBLEMS[failure] and raised.value.detail == sniffed.value.detail


@pytest.mark.anyio
async def test_a_webp_upload_is_415_before_any_decoder_runs(
    svc: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    webp = encode(Image.fromarray(to_uint8(pattern())), "WEBP")
    forbid_decoding(monkeypatch)

    response = await svc.client.post("/predict", files=multipart(webp, "x.webp", "image/webp"))

    assert_problem(response, 415, "unsupported-media-type", "neither PNG, JPEG nor DICOM")
