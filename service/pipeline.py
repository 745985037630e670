"""The request's CPU work and every limit on it, in one pass: bytes -> image -> model inputs -> overlay.

All of it is blocking and runs in a worker thread, bounded by ``CXR_DECODE_CONCURRENCY``:

1. the body's size is bounded while it is read (:func:`service.upload.read_body`);
2. the image part is taken out of a multipart body, or the body is the image, and its kind is read from its
   first bytes: anything but PNG, JPEG and DICOM is refused here, before any decoder runs
   (:func:`service.upload.image_upload`);
3. the image is decoded as that kind with its header checked against ``max_pixels`` and ``min_side``
   before any pixel is (:func:`decode_upload`: the decoder training uses too, :mod:`ml.decoding`);
4. the crop geometry, once (:func:`ml.preprocess_spec.crop_geometry`: the image's size scaled for the model
   and the centre crop in it), and the scaled size checked against ``max_pixels`` too
   (:func:`check_working_size`);
5. the classifier's input cut with that geometry, the scope classifier's input and the facts the input
   assessment needs, in numpy and Pillow (:mod:`ml.preprocessing_np`: the preprocessing training uses,
   without torch), and, if asked, the overlay canvas, the map's place on it taken from the same geometry
   (:func:`service.overlay.make_canvas`);
6. after inference, the Grad-CAM overlay (:meth:`Pipeline.render`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from ml import decoding
from ml.decoding import DecodedImage, DecodeLimits, ImageKind, decode_as
from ml.model.checks import ImageFacts
from ml.preprocess_spec import CropGeometry, PreprocessSpec, crop_geometry
from ml.preprocessing_np import eval_transform, scope_input
from service.errors import (
    ImageTooLargeError,
    ImageTooSmallError,
    InvalidImageError,
    MissingDecoderError,
    ServiceError,
    UnsupportedMediaTypeError,
)
from service.overlay import OverlayCanvas, RenderedOverlay, make_canvas, render_overlay
from service.settings import Settings
from service.upload import ImageUpload, image_upload

_PROBLEMS: Final[dict[type[decoding.DecodeError], type[ServiceError]]] = {
    decoding.UnreadableImageError: InvalidImageError,
    decoding.TooManyPixelsError: ImageTooLargeError,
    decoding.SideTooShortError: ImageTooSmallError,
    decoding.UnsupportedFormatError: UnsupportedMediaTypeError,
    decoding.DecoderNotInstalledError: MissingDecoderError,
}


@dataclass(frozen=True)
class PreparedImage:
    kind: ImageKind
    facts: ImageFacts
    inputs: np.ndarray
    """The classifier's input ``[C, crop, crop]`` float32."""
    scope_inputs: np.ndarray
    """The scope classifier's input ``[1, s, s]``: the whole image, for the input assessment."""
    canvas: OverlayCanvas | None


@dataclass(frozen=True)
class Pipeline:
    """What the request path needs from the settings and the weights, fixed for the app's lifetime."""

    limits: DecodeLimits
    spec: PreprocessSpec
    scope_size: int
    overlay_max_side: int

    @classmethod
    def build(cls, settings: Settings, spec: PreprocessSpec, scope_size: int) -> Pipeline:
        limits = DecodeLimits(max_pixels=settings.max_pixels, min_side=settings.min_side)
        return cls(limits, spec, scope_size, settings.overlay_max_side)

    def prepare(self, content_type: str | None, body: bytes, with_canvas: bool) -> PreparedImage:
        """Blocking: body -> image bytes -> grayscale -> model inputs (and the overlay canvas if asked)."""
        decoded = decode_upload(image_upload(content_type, body), self.limits)
        geometry = crop_geometry(decoded.height, decoded.width, self.spec)
        check_working_size(geometry, self.spec, self.limits.max_pixels)
        inputs = eval_transform(decoded.pixels, self.spec, geometry)
        scope = scope_input(decoded.pixels, self.scope_size)
        canvas = make_canvas(decoded.pixels, geometry, self.overlay_max_side) if with_canvas else None
        return PreparedImage(decoded.kind, decoded.facts(), inputs, scope, canvas)

    @staticmethod
    def render(canvas: OverlayCanvas, cam: np.ndarray) -> RenderedOverlay:
        """Blocking: the Grad-CAM map blended over the image as sent, as a PNG."""
        return render_overlay(canvas, cam)


def decode_upload(upload: ImageUpload, limits: DecodeLimits) -> DecodedImage:
    """Blocking: the shared decoder on an upload of an accepted kind, its failures turned into the problem
    types."""
    try:
        return decode_as(upload.data, upload.kind, limits)
    except decoding.DecodeError as exc:
        raise _PROBLEMS.get(type(exc), InvalidImageError)(exc.detail) from exc


def check_working_size(geometry: CropGeometry, spec: PreprocessSpec, max_pixels: int) -> None:
    """The pixel limit also bounds the image as resized for the model (``geometry``'s resized size).

    The shorter side is scaled to ``spec.resize``, so a thin strip (64 x 100000: a few kilobytes as a PNG)
    would grow many times over: gigabytes of memory and seconds of CPU for one request.
    """
    height, width = geometry.height, geometry.width
    resized_height, resized_width = geometry.resized_height, geometry.resized_width
    if resized_height * resized_width > max_pixels:
        raise ImageTooLargeError(
            f"The image is {width}x{height} pixels; with its shorter side scaled to {spec.resize} for the "
            f"model it would be {resized_width}x{resized_height} = {resized_width * resized_height} pixels, "
            f"over the limit of {max_pixels}. Crop it to the region of interest."
        )
