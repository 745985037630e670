"""What a training run reads: the split, the decoded images (cached on disk once), each epoch's order,
and an optional monitor set (a test set reported every epoch, never used to choose anything).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ml.classes import CLASSES
from ml.data import (
    Sample,
    decode_all,
    discover,
    split_by_group,
    stratified_limit,
    validation_halves,
    write_split,
)
from ml.preprocessing import PreprocessSpec
from ml.training.config import TrainConfig
from ml.training.distributed import Dist

logger = logging.getLogger(__name__)


@dataclass
class TrainData:
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    manifest_sha256: str
    split_sha256: str


@dataclass
class MonitorSet:
    """A test set (e.g. ``external-dev``) evaluated after every epoch and logged per source."""

    images: torch.Tensor
    labels: np.ndarray
    sources: list[str]


def _cache_key(samples: list[Sample], spec: PreprocessSpec) -> str:
    # The files' paths and sizes stand for their bytes: a changed file under the same name is caught by its
    # size far more often than not, and hashing 13,000 images would cost what the cache saves.
    digest = hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True).encode())
    for s in samples:
        digest.update(f"{s.path}\0{s.path.stat().st_size}\0".encode())
    return digest.hexdigest()[:24]


def decode_cached(samples: list[Sample], spec: PreprocessSpec, cache: Path | None) -> torch.Tensor:
    """:func:`ml.data.decode_all`, kept in ``cache`` (a folder) so a second run skips the decoding."""
    workers = min(16, os.cpu_count() or 1)
    if cache is None:
        return decode_all(samples, spec, workers)
    path = cache / f"images-{_cache_key(samples, spec)}.npy"
    if path.is_file():
        return torch.from_numpy(np.load(path))
    images = decode_all(samples, spec, workers)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, images.numpy())
    tmp.replace(path)
    return images


def load_data(
    cfg: TrainConfig, data_dir: Path, out: Path, spec: PreprocessSpec, env: Dist, cache: Path | None
) -> TrainData:
    """Find the images, split them by group, write the split, decode everything once onto the device."""
    dataset = discover(data_dir)
    samples = stratified_limit(dataset.samples, cfg.limit, cfg.seed) if cfg.limit else dataset.samples
    train, val = split_by_group(samples, cfg.val_fraction, cfg.seed)
    # Every rank draws the same split; only the main one writes it (the others never read it back).
    split_sha = write_split(out / "split.csv", dataset.root, train, val) if env.main else ""
    val = validation_halves(val)[0]  # the other half is left for the gate's thresholds and int8's check
    start = time.perf_counter()
    train_x = decode_cached(train, spec, cache).to(env.device)
    val_x = decode_cached(val, spec, cache).to(env.device)
    logger.info(
        "decoded %d train + %d val images in %.1f s", len(train), len(val), time.perf_counter() - start
    )
    train_y = torch.tensor([s.label for s in train], device=env.device)
    val_y = torch.tensor([s.label for s in val], device=env.device)
    return TrainData(train_x, train_y, val_x, val_y, dataset.manifest_sha256, split_sha)


def load_monitor(data_dir: Path, spec: PreprocessSpec, cache: Path | None) -> MonitorSet:
    samples = discover(data_dir).samples
    labels = np.array([s.label for s in samples])
    return MonitorSet(decode_cached(samples, spec, cache), labels, [s.source or "all" for s in samples])


def epoch_order(cfg: TrainConfig, labels: torch.Tensor, epoch: int, env: Dist) -> torch.Tensor:
    """This rank's training indices for ``epoch``: a permutation, or a class-balanced draw.

    ``cfg.epoch_images`` (when set) makes an epoch that many images, so that short runs still validate and
    checkpoint regularly.
    """
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
    n = cfg.epoch_images or len(labels)
    if cfg.balanced_sampling:
        counts = torch.bincount(labels.cpu(), minlength=len(CLASSES)).float()
        weights = (1.0 / counts)[labels.cpu()]
        order = torch.multinomial(weights, n, replacement=True, generator=gen)
    else:
        order = torch.randperm(len(labels), generator=gen)
        if n > len(order):
            order = order.repeat(n // len(order) + 1)
        order = order[:n]
    # Every rank must take the same number of steps, or DDP waits forever on the last one.
    order = order[: n - n % env.world]
    return order[env.rank :: env.world]
