"""Projection radiographs rendered from chest CT volumes (digitally reconstructed radiographs).

Summing a CT volume along one axis gives a radiograph with real anatomy: along front-back a frontal film,
along left-right a lateral one, and after a turn about the body's long axis an oblique one. No lateral
chest film is available to train on, so these renderings are how the scope classifier learns the view:
laterals and strong obliques are negatives, frontal renderings positives (so that it learns the view and
not the rendering). Nothing rendered is ever written to disk.

A volume is ``[slices, rows, cols]`` (axial slices; rows run front to back, columns across the body) with
its spacing in mm; values grow with attenuation (the source's stored CT values).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

logger = logging.getLogger(__name__)

AIR_PERCENTILE = 10
"""The air's stored value: this percentile of the voxels above the empty field outside the scan's circle."""


@dataclass(frozen=True)
class Volume:
    name: str
    voxels: torch.Tensor
    """``[Z, Y, X]`` float32, head at slice 0, isotropic at the in-plane pixel size, outside the body 0."""
    pixel_mm: float
    projections: dict[int, np.ndarray] = field(default_factory=dict, compare=False, repr=False)
    """Projections already made, by angle step (:func:`cached_projection`)."""


def _largest_component(mask: np.ndarray) -> np.ndarray:
    try:
        from scipy import ndimage  # type: ignore[import-untyped]
    except ImportError:  # without scipy the scanner table stays in the rendering
        return mask
    labels, count = ndimage.label(mask)
    if count == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    body = labels == int(sizes.argmax())
    return np.stack([ndimage.binary_fill_holes(s) for s in body]).astype(bool)


def body_only(voxels: np.ndarray) -> np.ndarray:
    """Attenuation above air inside the body's outline; the table, the air around and the field outside
    the scan's circle are 0."""
    air = float(np.percentile(voxels[voxels > 200], AIR_PERCENTILE)) if (voxels > 200).any() else 0.0
    tissue = (air + float(voxels.max())) / 2
    mask = _largest_component(voxels > tissue)
    return np.where(mask, np.clip(voxels - air, 0, None), 0).astype(np.float32)


def head_first(voxels: np.ndarray) -> np.ndarray:
    """Slices ordered from the head: where the lung fields end, they are wide at the diaphragm and
    narrow at the apex."""
    lung = (voxels > 0) & (voxels < 0.3 * float(voxels.max()))
    area = lung.sum(axis=(1, 2))
    ends = np.nonzero(area > 0.3 * area.max())[0]
    if len(ends) < 2:
        return voxels
    width = lung.any(axis=1).sum(axis=1)
    return voxels if width[ends[-1]] >= width[ends[0]] else voxels[::-1].copy()


def prepare(name: str, volume: np.ndarray, spacing_zyx_mm: tuple[float, float, float]) -> Volume:
    """Masked to the body, ordered head first, and its slice axis resampled to the pixel size."""
    voxels = head_first(body_only(volume.astype(np.float32)))
    slice_mm, pixel_mm = float(spacing_zyx_mm[0]), float(spacing_zyx_mm[1])
    depth = max(2, round(voxels.shape[0] * slice_mm / pixel_mm))
    x = torch.from_numpy(np.ascontiguousarray(voxels))[None, None]
    x = F.interpolate(x, size=(depth, *voxels.shape[1:]), mode="trilinear", align_corners=False)
    return Volume(name, x[0, 0].contiguous(), pixel_mm)


def load_volume(path: Path) -> Volume:
    with np.load(path) as data:
        spacing = tuple(float(v) for v in data["spacing_zyx_mm"])
        return prepare(path.stem, data["volume"], (spacing[0], spacing[1], spacing[2]))


def project(volume: Volume, angle_deg: float, width: int = 112, samples: int = 64) -> np.ndarray:
    """Line integrals ``[rows, width]`` through the volume turned by ``angle_deg`` about its long axis: 0
    is a frontal (front-back) projection, 90 a lateral (left-right) one. The scope classifier sees 96
    pixels, so ``width`` rays of ``samples`` points each, and rows in proportion, are enough."""
    v = volume.voxels[:, None]
    z, h, w = volume.voxels.shape
    theta = math.radians(angle_deg)
    c, s = math.cos(theta), math.sin(theta)
    affine = torch.tensor([[c, -s, 0.0], [s, c, 0.0]], dtype=torch.float32).expand(z, 2, 3)
    grid = F.affine_grid(affine, [z, 1, samples, width], align_corners=False)
    turned = F.grid_sample(v, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    projection = turned[:, 0].sum(dim=1) * (h * volume.pixel_mm / samples)
    rows = max(2, round(z * width / w))
    return F.interpolate(projection[None, None], size=(rows, width), mode="area")[0, 0].numpy()


ANGLE_STEP = 2.5
"""Renderings reuse projections at this spacing in degrees; the film mapping varies every one."""


def cached_projection(volume: Volume, angle_deg: float) -> np.ndarray:
    key = round(angle_deg / ANGLE_STEP)
    if key not in volume.projections:
        volume.projections[key] = project(volume, key * ANGLE_STEP)
    return volume.projections[key]


def to_film(line_integrals: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An X-ray-like brightness ``1 - exp(-k * sum)`` under a random k, window, gamma, crop and noise."""
    body = line_integrals[line_integrals > 0]
    scale = float(np.percentile(body, 90)) if body.size else 1.0
    k = rng.uniform(0.6, 3.0)
    film = 1.0 - np.exp(-k * line_integrals / max(scale, 1e-6))
    lo, hi = np.percentile(film, [rng.uniform(0, 8), rng.uniform(97, 100)])
    film = np.clip((film - lo) / max(float(hi - lo), 1e-6), 0, 1) ** rng.uniform(0.7, 1.5)
    h, w = film.shape
    top, bottom = int(h * rng.uniform(0, 0.1)), int(h * (1 - rng.uniform(0, 0.1)))
    left, right = int(w * rng.uniform(0, 0.1)), int(w * (1 - rng.uniform(0, 0.1)))
    film = film[top:bottom, left:right]
    film = film + rng.normal(0, rng.uniform(0, 0.02), film.shape)
    return np.ascontiguousarray(np.clip(film, 0, 1), dtype=np.float32)


VIEWS: dict[str, tuple[tuple[float, float], ...]] = {
    "frontal": ((-10.0, 10.0), (170.0, 190.0)),
    "lateral": ((75.0, 105.0), (255.0, 285.0)),
    "oblique": ((35.0, 75.0), (105.0, 145.0), (215.0, 255.0), (285.0, 325.0)),
}
"""Angle ranges about the long axis for each view; between 10 and 35 degrees nothing is rendered, since
a slightly turned frontal film is still a frontal film."""


def render(volume: Volume, view: str, rng: np.random.Generator) -> np.ndarray:
    """One rendering of ``view`` (a key of :data:`VIEWS`) at a random angle in its ranges."""
    ranges = VIEWS[view]
    lo, hi = ranges[int(rng.integers(0, len(ranges)))]
    return to_film(cached_projection(volume, rng.uniform(lo, hi)), rng)
