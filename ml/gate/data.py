"""The gate's data: the database's images decoded once, the classifier's features, the scope training set.

Images go through the same functions as in serving, from the decoded grayscale on: ``eval_transform`` for
the classifier, ``scope_input`` for the scope classifier.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ml.data import Sample, decode_gray, discover, read_split, split_by_group, validation_halves
from ml.gate import drr, negatives, packaged
from ml.gate.shared import SharedData
from ml.gradcam import predict_with_cam
from ml.model import PaperCNN
from ml.model.scope import SCOPE_CLASSES, scope_input
from ml.preprocessing import PreprocessSpec, eval_transform
from ml.robustness.shifts import SEVERITIES, SHIFTS, apply_shift

logger = logging.getLogger(__name__)

POSITIVE_SHIFTS = tuple(name for name in SHIFTS if name != "invert")
"""Acquisition shifts that leave a frontal chest X-ray in scope (all but inverted polarity)."""


@dataclass
class Images:
    pixels: list[np.ndarray]
    """Decoded grayscale ``[H, W]`` uint8 (kept as 8 bits: the database's own depth)."""
    labels: np.ndarray


def decode_samples(samples: list[Sample]) -> Images:
    pixels = [np.round(decode_gray(s.path) * 255).astype(np.uint8) for s in samples]
    return Images(pixels, np.array([s.label for s in samples], dtype=np.int64))


def split_sides(
    data_dir: Path, split: Path | None, val_fraction: float = 0.15, seed: int = 0
) -> tuple[list[Sample], tuple[list[Sample], list[Sample]]]:
    """The training samples and the validation side's two halves ``(select, assess)``, split by ``split``
    (a run's split.csv) or by group (:func:`ml.data.validation_halves`)."""
    dataset = discover(data_dir)
    if split is not None:
        train, val = read_split(split, dataset.root)
    else:
        train, val = split_by_group(dataset.samples, val_fraction, seed)
    return train, validation_halves(val)


def gate_samples(
    data_dir: Path, split: Path | None, val_fraction: float = 0.15, seed: int = 0
) -> tuple[list[Sample], list[Sample]]:
    """The training samples and the validation side's ``assess`` half: the gate is fitted on images that
    chose neither the epoch nor the temperature."""
    train, (_, assess) = split_sides(data_dir, split, val_fraction, seed)
    return train, assess


def load_split(
    data_dir: Path, split: Path | None, val_fraction: float = 0.15, seed: int = 0
) -> tuple[Images, Images]:
    """:func:`gate_samples`, decoded."""
    train, val = gate_samples(data_dir, split, val_fraction, seed)
    logger.info("decoding %d training and %d validation images", len(train), len(val))
    return decode_samples(train), decode_samples(val)


def as_float(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float32) / 255.0 if pixels.dtype == np.uint8 else pixels.astype(np.float32)


@torch.no_grad()
def classifier_outputs(
    model: PaperCNN, images: list[np.ndarray], spec: PreprocessSpec, batch_size: int = 64
) -> tuple[np.ndarray, list[torch.Tensor]]:
    """Logits ``[N, classes]`` and the pooled block outputs (``taps``) of every image, on the CPU."""
    model.eval()
    logits, taps = [], []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        x = torch.stack([eval_transform(torch.from_numpy(as_float(p)), spec) for p in chunk])
        result = predict_with_cam(
            model, x.contiguous(memory_format=torch.channels_last), with_cam=False, with_taps=True
        )
        logits.append(result.logits.numpy())
        taps.append(result.taps)
    n_layers = len(taps[0]) if taps else 0
    joined = [torch.cat([t[i] for t in taps]) for i in range(n_layers)]
    return (np.concatenate(logits) if logits else np.zeros((0, 3), np.float32)), joined


def scope_batch(images: list[np.ndarray]) -> torch.Tensor:
    """``[N, 1, s, s]`` scope-classifier inputs."""
    return torch.stack([scope_input(torch.from_numpy(as_float(p))) for p in images])


def shifted(image: np.ndarray, rng: np.random.Generator, probability: float) -> np.ndarray:
    """A frontal X-ray under zero, one or two random acquisition shifts: still in scope."""
    out = as_float(image)
    for _ in range(2):
        if rng.random() < probability:
            out = apply_shift(out, str(rng.choice(POSITIVE_SHIFTS)), int(rng.choice(SEVERITIES)), rng)
    if rng.random() < 0.5:
        out = np.ascontiguousarray(out[:, ::-1])
    return out


@dataclass
class ScopeSet:
    inputs: torch.Tensor
    """``[N, 1, s, s]`` float16."""
    labels: torch.Tensor
    kinds: list[str]
    """Where each example came from: ``frontal``, a negative maker's name, or a packaged file's."""


def build_scope_set(
    xrays: list[np.ndarray], seed: int, per_maker: int, held_out: bool, shared: SharedData | None = None
) -> ScopeSet:
    """:func:`scope_examples` as scope-classifier inputs, each shrunk as soon as it is made."""
    inputs, labels, kinds = [], [], []
    for image, label, kind in scope_examples(xrays, seed, per_maker, held_out, shared):
        inputs.append(scope_input(torch.from_numpy(as_float(image))).half())
        labels.append(label)
        kinds.append(kind)
    logger.info("scope set: %d examples (seed %d)", len(labels), seed)
    return ScopeSet(torch.stack(inputs), torch.tensor(labels, dtype=torch.long), kinds)


Example = tuple[np.ndarray, int, str]
"""A decoded image, its scope class and its kind."""


DRR_VIEWS = {"frontal": 1.0, "lateral": 1.0, "oblique": 0.5}
"""Renderings of each view from the CT volumes, per ``per_maker``."""
POSITIVE_KINDS = frozenset({"frontal", "drr_frontal"})


def scope_examples(
    xrays: list[np.ndarray],
    seed: int,
    per_maker: int,
    held_out: bool,
    shared: SharedData | None = None,
) -> Iterator[Example]:
    """Frontal X-rays (shifted or not) against every kind of negative, ``per_maker`` of each.

    ``held_out`` draws the packaged images kept for evaluation instead of the training ones; ``seed``
    must differ between the training and the evaluation sets. ``shared`` (its training or held-out
    part, to match ``held_out``) adds renderings of CT volumes, frontal ones as positives and the others
    as negatives, and real negatives: each held-out one once as it is, training ones augmented.
    """
    rng = np.random.default_rng(seed)
    other = SCOPE_CLASSES.index("other")
    for i in rng.choice(len(xrays), size=min(len(xrays), 3 * per_maker), replace=False):
        yield shifted(xrays[i], rng, 0.6), 0, "frontal"
    for name, (scope_class, make) in negatives.HARD_MAKERS.items():
        for i in rng.choice(len(xrays), size=per_maker):
            yield make(shifted(xrays[i], rng, 0.3), rng), SCOPE_CLASSES.index(scope_class), name
    for name, maker in negatives.MAKERS.items():
        for _ in range(per_maker):
            yield maker(rng), other, name
    real = packaged.packaged_images(held_out)
    for name, image in real.items():
        count = max(1, per_maker // 10) if held_out else max(1, per_maker // max(1, len(real)))
        for _ in range(count):
            yield packaged.augment(image, rng), other, name
    yield from _shared_examples(shared or SharedData(), rng, per_maker, held_out)


def _shared_examples(
    shared: SharedData, rng: np.random.Generator, per_maker: int, held_out: bool
) -> Iterator[Example]:
    other = SCOPE_CLASSES.index("other")
    for view, share in DRR_VIEWS.items() if shared.volumes else ():
        label = 0 if view == "frontal" else other
        for _ in range(max(1, int(per_maker * share))):
            volume = shared.volumes[int(rng.integers(0, len(shared.volumes)))]
            yield drr.render(volume, view, rng), label, f"drr_{view}"
    for kind, images in shared.negatives.items():
        if held_out:
            yield from ((image, other, f"real_{kind}") for image in images)
            continue
        for _ in range(max(1, per_maker // 2)):
            image = images[int(rng.integers(0, len(images)))]
            yield packaged.augment(image, rng), other, f"real_{kind}"


def worker_count() -> int:
    return min(16, os.cpu_count() or 1)
