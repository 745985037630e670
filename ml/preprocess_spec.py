"""What the model expects of its input, and where its crop lies: no tensor library needed.

:class:`PreprocessSpec` travels in the weights' metadata; :mod:`ml.preprocessing` (torch, the reference
used by training) and :mod:`ml.preprocessing_np` (numpy and Pillow, the CPU service) implement it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

STANDARDIZE = ("none", "percentile", "equalize")
PERCENTILES = (0.01, 0.99)
EQUALIZE_BINS = 256


@dataclass(frozen=True)
class PreprocessSpec:
    """What the model expects; stored in the weights' metadata and read back by the service."""

    resize: int = 256
    crop: int = 224
    mean: float = 0.5
    std: float = 0.5
    channels: int = 3
    interpolation: str = "bilinear-antialias"
    standardize: str = "none"
    """``none``; ``percentile``: stretch each image's 1st-99th percentile (of the resized image, before
    the crop) to [0, 1], so a different window, contrast or detector gain maps to the same input;
    ``equalize``: histogram equalisation, so any monotone change of the intensities (gamma, window,
    another detector's response curve) maps to the same input."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessSpec:
        known = {f: data[f] for f in cls.__dataclass_fields__ if f in data}
        spec = cls(**known)
        if spec.interpolation != "bilinear-antialias":
            raise ValueError(f"unsupported interpolation {spec.interpolation!r}")
        if spec.standardize not in STANDARDIZE:
            raise ValueError(f"standardize must be one of {STANDARDIZE}, got {spec.standardize!r}")
        if not 0 < spec.crop <= spec.resize:
            raise ValueError(f"crop {spec.crop} must be in (0, resize={spec.resize}]")
        return spec


@dataclass(frozen=True)
class CropBox:
    """The region of the original image (in its own pixel coordinates) that the model saw."""

    top: float
    left: float
    height: float
    width: float


def resized_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """Shape after scaling the shorter side to ``size``, keeping the aspect ratio."""
    if height <= width:
        return size, max(size, int(size * width / height))
    return max(size, int(size * height / width)), size


def center_offsets(height: int, width: int, crop: int) -> tuple[int, int]:
    return round((height - crop) / 2), round((width - crop) / 2)


@dataclass(frozen=True)
class CropGeometry:
    """Where one image's model input comes from: the image scaled so its shorter side is ``spec.resize``,
    then the centre ``spec.crop`` x ``spec.crop`` of that. Computed once per image (:func:`crop_geometry`)
    and shared by whatever needs it: the input's resize and crop, and the overlay's placement of the map."""

    height: int
    width: int
    """The image's own size."""
    resized_height: int
    resized_width: int
    top: int
    left: int
    """The crop's offsets in the resized image."""
    crop: int

    @property
    def box(self) -> CropBox:
        """The crop in the original image's pixel coordinates, to project Grad-CAM back."""
        sy, sx = self.height / self.resized_height, self.width / self.resized_width
        return CropBox(self.top * sy, self.left * sx, self.crop * sy, self.crop * sx)


def crop_geometry(height: int, width: int, spec: PreprocessSpec) -> CropGeometry:
    resized_height, resized_width = resized_shape(height, width, spec.resize)
    top, left = center_offsets(resized_height, resized_width, spec.crop)
    return CropGeometry(height, width, resized_height, resized_width, top, left, spec.crop)


def crop_box(height: int, width: int, spec: PreprocessSpec) -> CropBox:
    """Where the preprocessing's centre crop lies in the original image, to project Grad-CAM back."""
    return crop_geometry(height, width, spec).box
