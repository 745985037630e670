"""The one definition of preprocessing, shared by training, evaluation and the service.

grayscale in [0, 1] -> resize the shorter side to ``resize`` -> optionally standardize the intensities
(``standardize``) -> crop ``crop`` (random crop and horizontal flip when training, center crop otherwise)
-> normalize with ``mean``/``std`` -> repeat to ``channels``.

Everything works on float tensors of shape ``[N, 1, H, W]`` with values in [0, 1], on any device, so the
training loop can run it on the GPU with the same numbers. This is the reference: the CPU service runs
the same steps in numpy and Pillow (:mod:`ml.preprocessing_np`), tested equal to these.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ml.preprocess_spec import (
    EQUALIZE_BINS,
    PERCENTILES,
    STANDARDIZE,
    CropBox,
    PreprocessSpec,
    center_offsets,
    crop_box,
    resized_shape,
)

__all__ = [
    "EQUALIZE_BINS",
    "PERCENTILES",
    "STANDARDIZE",
    "CropBox",
    "PreprocessSpec",
    "center_crop",
    "center_offsets",
    "crop_box",
    "eval_batch",
    "eval_transform",
    "normalize",
    "percentiles",
    "resize_shorter",
    "resized_shape",
    "square_cache",
    "standardize",
    "train_augment",
]


def resize_shorter(images: torch.Tensor, size: int) -> torch.Tensor:
    """Scale ``[N, C, H, W]`` so that the shorter side is ``size`` (antialiased bilinear)."""
    h, w = images.shape[-2:]
    out = resized_shape(h, w, size)
    if (h, w) == out:
        return images
    return F.interpolate(images, size=out, mode="bilinear", antialias=True, align_corners=False)


def percentiles(flat: torch.Tensor, qs: tuple[float, ...]) -> torch.Tensor:
    """Linear-interpolated quantiles ``[len(qs), N]`` of each row of ``flat`` ``[N, M]``.

    The same values as ``torch.quantile``, by sorting: ``torch.quantile`` refuses more than 2^24 elements,
    and an accepted upload can be larger than that after the resize.
    """
    ordered = flat.float().sort(dim=1).values
    last = ordered.shape[1] - 1
    rows = []
    for q in qs:
        pos = q * last
        lo = math.floor(pos)
        hi = min(lo + 1, last)
        rows.append(ordered[:, lo] + (ordered[:, hi] - ordered[:, lo]) * (pos - lo))
    return torch.stack(rows)


def _stretch(images: torch.Tensor) -> torch.Tensor:
    lo, hi = percentiles(images.flatten(1), PERCENTILES)[:, :, None, None, None]
    # A (nearly) flat image has no range to stretch; it is left as it is rather than blown up.
    flat = (hi - lo) < 1e-3
    lo = torch.where(flat, torch.zeros_like(lo), lo)
    span = torch.where(flat, torch.ones_like(hi), hi - lo)
    return ((images.float() - lo) / span).clamp_(0, 1)


def _equalize(images: torch.Tensor) -> torch.Tensor:
    # Each pixel becomes the share of its image's pixels below its bin plus half its own bin (mid-rank), so a
    # flat image maps to 0.5 and no bin is special-cased.
    n = images.shape[0]
    bins = (images.float() * (EQUALIZE_BINS - 1)).round_().long().clamp_(0, EQUALIZE_BINS - 1).flatten(1)
    hist = torch.zeros(n, EQUALIZE_BINS, device=images.device).scatter_add_(
        1, bins, torch.ones_like(bins, dtype=torch.float32)
    )
    below = hist.cumsum(1) - hist / 2
    return (below / bins.shape[1]).gather(1, bins).view(images.shape)


def standardize(images: torch.Tensor, spec: PreprocessSpec) -> torch.Tensor:
    """Per-image intensity standardisation of ``[N, C, H, W]`` in [0, 1], as ``spec.standardize`` says."""
    if spec.standardize == "none":
        return images
    out = _stretch(images) if spec.standardize == "percentile" else _equalize(images)
    return out.to(images.dtype)


def center_crop(images: torch.Tensor, crop: int) -> torch.Tensor:
    h, w = images.shape[-2:]
    top, left = center_offsets(h, w, crop)
    return images[..., top : top + crop, left : left + crop]


def normalize(images: torch.Tensor, spec: PreprocessSpec) -> torch.Tensor:
    """``[N, 1, crop, crop]`` in [0, 1] -> normalized ``[N, channels, crop, crop]``."""
    x = (images - spec.mean) / spec.std
    return x.expand(-1, spec.channels, -1, -1)


def eval_transform(image: torch.Tensor, spec: PreprocessSpec) -> torch.Tensor:
    """One grayscale image ``[H, W]`` in [0, 1] -> the model's input ``[channels, crop, crop]``."""
    x = standardize(resize_shorter(image[None, None].float(), spec.resize), spec)
    return normalize(center_crop(x, spec.crop), spec)[0]


def square_cache(image: torch.Tensor, spec: PreprocessSpec) -> torch.Tensor:
    """``[H, W]`` in [0, 1] -> resized and center-cropped to ``resize x resize``, the training cache.

    Training keeps every image in this form once (on the GPU when there is one); the random or center
    crop of ``crop`` pixels is then taken from it. For a square image this equals :func:`eval_transform`'s
    path exactly; for another aspect ratio the random crops stay within the central square.
    """
    x = standardize(resize_shorter(image[None, None].float(), spec.resize), spec)
    return center_crop(x, spec.resize)[0]


def train_augment(
    batch: torch.Tensor,
    spec: PreprocessSpec,
    generator: torch.Generator | None = None,
    rotate_degrees: float = 0.0,
    contrast: float = 0.0,
) -> torch.Tensor:
    """Random crop and horizontal flip of a cached batch ``[N, 1, resize, resize]``, on its device.

    ``generator`` must live on the batch's device, so no random numbers cross the bus.

    ``rotate_degrees`` and ``contrast`` add mild rotation and brightness/contrast jitter (0 disables them;
    the paper's recipe uses neither).
    """
    n, _, h, w = batch.shape
    dev = batch.device
    rand = torch.rand(n, 4, device=dev, generator=generator)
    tops = (rand[:, 0] * (h - spec.crop + 1)).long().clamp_(max=h - spec.crop)
    lefts = (rand[:, 1] * (w - spec.crop + 1)).long().clamp_(max=w - spec.crop)
    ar = torch.arange(spec.crop, device=dev)
    rows = (tops[:, None] + ar)[:, :, None]
    cols = (lefts[:, None] + ar)[:, None, :]
    flip = rand[:, 2] < 0.5
    cols = torch.where(flip[:, None, None], cols.flip(-1), cols)
    out = batch[torch.arange(n, device=dev)[:, None, None], 0, rows, cols][:, None]
    if rotate_degrees > 0:
        angle = (rand[:, 3] * 2 - 1) * math.radians(rotate_degrees)
        cos, sin = torch.cos(angle), torch.sin(angle)
        zero = torch.zeros_like(cos)
        theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
        grid = F.affine_grid(theta.to(out.dtype), list(out.shape), align_corners=False)
        out = F.grid_sample(out, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if contrast > 0:
        jitter = torch.rand(n, 2, 1, 1, device=dev, generator=generator)
        gain = 1 + (jitter[:, :1] * 2 - 1) * contrast
        bias = (jitter[:, 1:] * 2 - 1) * contrast / 2
        mean = out.mean((2, 3), keepdim=True)
        out = ((out - mean) * gain + mean + bias).clamp_(0, 1)
    return normalize(out, spec)


def eval_batch(batch: torch.Tensor, spec: PreprocessSpec) -> torch.Tensor:
    """Center crop and normalize a cached batch ``[N, 1, resize, resize]``."""
    return normalize(center_crop(batch, spec.crop), spec)
