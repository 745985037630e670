"""Training on the robustness suite's shifts: each epoch, a share of the cached training images is
replaced by a copy under a random :mod:`ml.robustness.shifts` shift at a random severity.

The training cache holds :func:`ml.preprocessing.square_cache` images ``[N, 1, resize, resize]``. A shifted
copy goes through ``square_cache`` again, so a shift that changes the size (aspect squash) is resized and
cropped as serving would, and the spec's standardisation sees the shifted intensities as it would in
serving. The shifts run on the CPU in worker processes one epoch ahead of the training loop, so the
accelerator does not wait for them. The draw depends only on the seed and the epoch, so a resumed run
sees the same images.
"""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from ml.preprocessing import PreprocessSpec, square_cache
from ml.robustness.shifts import SEVERITIES, SHIFTS, apply_shift
from ml.training.config import TrainConfig

logger = logging.getLogger(__name__)

CHUNK = 256
NOT_TRAINED = ("invert",)


def training_shifts(names: str) -> list[str]:
    """The shifts a config draws from: its comma-separated list, or every shift but ``invert``."""
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in SHIFTS]
    if unknown:
        raise ValueError(f"unknown shift(s) {', '.join(unknown)}; known: {', '.join(SHIFTS)}")
    return chosen or [n for n in SHIFTS if n not in NOT_TRAINED]


@dataclass(frozen=True)
class Job:
    images: np.ndarray
    """float16 ``[k, 1, resize, resize]`` from the cache."""
    names: list[str]
    severities: list[int]
    seeds: list[int]
    spec: PreprocessSpec


def shift_chunk(job: Job) -> np.ndarray:
    """Shift each image of ``job`` and cache it again: float16 ``[k, 1, resize, resize]``."""
    torch.set_num_threads(1)
    out = []
    for image, name, severity, seed in zip(job.images, job.names, job.severities, job.seeds, strict=True):
        shifted = apply_shift(image[0].astype(np.float32), name, severity, np.random.default_rng(seed))
        out.append(square_cache(torch.from_numpy(shifted), job.spec).to(torch.float16).numpy())
    return np.stack(out) if out else job.images


class ShiftAugmenter:
    def __init__(self, images: torch.Tensor, cfg: TrainConfig, spec: PreprocessSpec, workers: int) -> None:
        self.base = images.detach().to("cpu", torch.float16).numpy()
        self.names = training_shifts(cfg.shift_names)
        self.fraction = cfg.shift_fraction
        self.seed = cfg.seed
        self.spec = spec
        self.pending: dict[int, tuple[np.ndarray, list[Future[np.ndarray]]]] = {}
        self.pool: ProcessPoolExecutor | None = None
        if workers > 1 and len(self.base) > 64:
            # spawn, not fork: a forked child of a process that has started OpenMP or CUDA can hang.
            self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        logger.info(
            "shift augmentation: %.0f%% of %d images per epoch, from %s",
            100 * self.fraction,
            len(self.base),
            ", ".join(self.names),
        )

    def _jobs(self, epoch: int) -> tuple[np.ndarray, list[Job]]:
        rng = np.random.default_rng([self.seed, epoch, 0x5EED])
        n = len(self.base)
        k = min(n, round(n * self.fraction))
        index = np.sort(rng.choice(n, size=k, replace=False))
        names = [self.names[i] for i in rng.integers(len(self.names), size=k)]
        severities = [int(s) for s in rng.choice(SEVERITIES, size=k)]
        seeds = [int(s) for s in rng.integers(2**63 - 1, size=k)]
        jobs = [
            Job(
                self.base[index[i : i + CHUNK]],
                names[i : i + CHUNK],
                severities[i : i + CHUNK],
                seeds[i : i + CHUNK],
                self.spec,
            )
            for i in range(0, k, CHUNK)
        ]
        return index, jobs

    def prepare(self, epoch: int) -> None:
        """Start shifting ``epoch``'s images in the background (no-op without worker processes)."""
        if self.pool is None or epoch in self.pending:
            return
        index, jobs = self._jobs(epoch)
        self.pending[epoch] = (index, [self.pool.submit(shift_chunk, job) for job in jobs])

    def images(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(indices, images)``: which cached images to replace this epoch, and by what."""
        if self.pool is None:
            index, jobs = self._jobs(epoch)
            parts = [shift_chunk(job) for job in jobs]
        else:
            self.prepare(epoch)
            index, futures = self.pending.pop(epoch)
            parts = [future.result() for future in futures]
        shape = (0, *self.base.shape[1:])
        shifted = np.concatenate(parts) if parts else np.zeros(shape, dtype=np.float16)
        return torch.from_numpy(index), torch.from_numpy(shifted)

    def epoch_images(self, cache: torch.Tensor, epoch: int) -> torch.Tensor:
        """``cache`` with this epoch's share replaced by shifted copies (a new tensor, on its device)."""
        index, shifted = self.images(epoch)
        out = cache.clone()
        out[index.to(cache.device)] = shifted.to(cache.device, cache.dtype)
        return out

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None
