"""The service's exceptions: each concrete :class:`ServiceError` class is one problem type (RFC 9457).

A problem's type is ``urn:cxr-service:problem:`` followed by its class's kind; :mod:`service.problems`
turns them, and any other failure, into ``application/problem+json``. The classes, with status and kind::

    ServiceError                        500 internal-error
    ├── MalformedRequestError           400 malformed-request
    ├── UnauthorizedError               401 unauthorized
    ├── PayloadTooLargeError            413 payload-too-large
    ├── ImageTooLargeError              413 image-too-large
    ├── UnsupportedMediaTypeError       415 unsupported-media-type
    ├── MissingDecoderError             415 missing-decoder
    ├── InvalidRequestError             422 invalid-request
    ├── MissingFileError                422 missing-file
    ├── InvalidImageError               422 invalid-image
    ├── ImageTooSmallError              422 image-too-small
    ├── OutOfScopeError                 422 out-of-scope
    ├── ServiceUnavailableError         503 (abstract: never raised itself)
    │   ├── QueueFullError              503 queue-full
    │   ├── NotReadyError               503 not-ready
    │   └── DrainingError               503 draining
    ├── DeadlineExceededError           504 deadline-exceeded
    └── ClientDisconnectedError         499 client-closed-request (undocumented: nobody reads it)

The image decoder, shared with training, raises its own exceptions (:mod:`ml.decoding.errors`):
:func:`service.upload.accepted_kind` turns those of the format check it runs before decoding (an unaccepted
kind, no bytes at all) into these, and :func:`service.pipeline.decode_upload` those of decoding.

:data:`DOCUMENTED_ERRORS`, what the OpenAPI document lists, is every class of this tree but the abstract
and undocumented ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:cxr-service:problem:"


class ServiceError(Exception):
    status: ClassVar[int] = 500
    kind: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal server error"
    example: ClassVar[str] = "An unexpected error occurred; it has been logged with this request id."
    abstract: ClassVar[bool] = False
    """A grouping class, never raised itself (it has no problem type of its own)."""
    documented: ClassVar[bool] = True
    """Listed in the OpenAPI document, as a problem a client can receive."""

    def __init_subclass__(cls, *, abstract: bool = False, documented: bool = True, **kwargs: Any) -> None:
        # Set on every class, so neither flag is inherited by a subclass.
        super().__init_subclass__(**kwargs)
        cls.abstract = abstract
        cls.documented = documented and not abstract

    def __init__(self, detail: str, *, headers: Mapping[str, str] | None = None) -> None:
        if type(self).abstract:
            raise TypeError(f"{type(self).__name__} is abstract; raise one of its subclasses")
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})

    @classmethod
    def type_uri(cls) -> str:
        return PROBLEM_TYPE_PREFIX + cls.kind


class MalformedRequestError(ServiceError):
    status, kind, title = 400, "malformed-request", "Malformed request"
    example = "The multipart body could not be parsed: missing boundary in the Content-Type header."


class UnauthorizedError(ServiceError):
    status, kind, title = 401, "unauthorized", "Missing or invalid API key"
    example = "Send the API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class PayloadTooLargeError(ServiceError):
    status, kind, title = 413, "payload-too-large", "Request body too large"
    example = "The request body is larger than the limit of 20971520 bytes."


class ImageTooLargeError(ServiceError):
    status, kind, title = 413, "image-too-large", "Image has too many pixels"
    example = "The image is 12000x12000 = 144000000 pixels; the limit is 40000000."


class UnsupportedMediaTypeError(ServiceError):
    status, kind, title = 415, "unsupported-media-type", "Unsupported media type"
    example = "The upload is neither PNG, JPEG nor DICOM (its first bytes match none of them)."


class MissingDecoderError(ServiceError):
    status, kind, title = 415, "missing-decoder", "No decoder installed for this DICOM encoding"
    example = (
        "DICOM transfer syntax 'JPEG-LS Lossless Image Compression' (1.2.840.10008.1.2.4.80) needs a plugin "
        "that is not installed: pylibjpeg - requires pylibjpeg and pylibjpeg-libjpeg; gdcm - requires gdcm."
    )


class InvalidRequestError(ServiceError):
    status, kind, title = 422, "invalid-request", "Invalid request"
    example = "query parameter 'gradcam': Input should be a valid boolean, unable to interpret input."


class MissingFileError(ServiceError):
    status, kind, title = 422, "missing-file", "No image in the request"
    example = "The multipart body has no part named 'file'; send the image in a field called 'file'."


class InvalidImageError(ServiceError):
    status, kind, title = 422, "invalid-image", "The image cannot be decoded"
    example = "The PNG file is truncated or corrupt (image file is truncated)."


class ImageTooSmallError(ServiceError):
    status, kind, title = 422, "image-too-small", "Image too small"
    example = "The image is 40x40 pixels; each side must be at least 64."


class OutOfScopeError(ServiceError):
    """Only with ``CXR_REJECT_OUT_OF_SCOPE=true``: the input assessment found no frontal chest X-ray."""

    status, kind, title = 422, "out-of-scope", "Not a frontal chest X-ray"
    example = (
        "The image is out of the model's scope (reasons: not_frontal_chest_xray); it answers only for "
        "frontal chest radiographs."
    )

    @classmethod
    def of(cls, reasons: Iterable[str]) -> OutOfScopeError:
        codes = ", ".join(reasons)
        return cls(
            f"The image is out of the model's scope (reasons: {codes}); it answers only for frontal chest "
            "radiographs. Unset CXR_REJECT_OUT_OF_SCOPE to receive the prediction with its assessment."
        )


class ServiceUnavailableError(ServiceError, abstract=True):
    """This instance cannot take the request now; a retry (``Retry-After``) may succeed."""

    status, kind, title = 503, "service-unavailable", "Service unavailable"

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_s)})


class QueueFullError(ServiceUnavailableError):
    kind, title = "queue-full", "Server busy"
    example = "All 64 places in the inference queue are taken; retry after the Retry-After delay."


class NotReadyError(ServiceUnavailableError):
    kind, title = "not-ready", "Model not ready"
    example = "The model is still loading; retry after the Retry-After delay."


class DrainingError(ServiceUnavailableError):
    kind, title = "draining", "Shutting down"
    example = "This instance is shutting down and accepts no new work; retry on another instance."


class DeadlineExceededError(ServiceError):
    status, kind, title = 504, "deadline-exceeded", "Deadline exceeded"
    example = "No answer within the 30 s deadline; the work was dropped."


class ClientDisconnectedError(ServiceError, documented=False):
    """The client went away; nobody reads this response, the status is for the logs (nginx's 499)."""

    status, kind, title = 499, "client-closed-request", "Client closed request"


def _descendants(cls: type[ServiceError]) -> Iterator[type[ServiceError]]:
    for subclass in cls.__subclasses__():
        yield subclass
        yield from _descendants(subclass)


DOCUMENTED_ERRORS: tuple[type[ServiceError], ...] = (
    *(error for error in _descendants(ServiceError) if error.documented),
    ServiceError,
)
"""Every problem a client can receive, for the OpenAPI document: the tree above, in definition order."""
