"""Finding, splitting and decoding the COVID-19 Radiography Database.

Two layouts are read:

* the shared copy: ``<root>/manifest.csv`` with columns ``file,label,group``; its ``group`` column joins
  duplicates, so the split is made by group, never by image. A test set such as ``external-dev`` has no
  ``group`` (each image is its own) but a ``source_repo``: each sample's ``source`` is then its file prefix
  (``sbu-...`` -> ``sbu``), so that results can be read per source;
* the Kaggle download: ``COVID-19_Radiography_Dataset/<class>/images/*.png`` (``root`` may be that folder
  or its parent), or any folder of ``<class>/*`` images; ``masks/`` and ``Lung_Opacity`` are ignored, and
  each image is its own group.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import multiprocessing
import random
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ml.classes import CLASSES
from ml.decoding import ALL_KINDS, DecodeError, DecodeLimits, decode_image
from ml.preprocessing import PreprocessSpec, square_cache

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
KAGGLE_DIR = "COVID-19_Radiography_Dataset"
_ANY_SIZE = DecodeLimits(max_pixels=2**62, min_side=1)
"""Training files are trusted; Pillow's own decompression-bomb bound (about 179 megapixels) still holds."""


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int
    group: str
    source: str = field(default="", compare=False)
    """Where the image comes from (a test set's file prefix), for per-source reports; empty if unknown."""

    def key(self, root: Path) -> str:
        return self.path.relative_to(root).as_posix()


@dataclass
class Dataset:
    root: Path
    samples: list[Sample]
    manifest_sha256: str
    layout: str


def _hash_lines(lines: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _from_manifest(root: Path) -> Dataset:
    manifest = root / "manifest.csv"
    samples = []
    with manifest.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["label"] not in CLASSES:
                continue
            source = Path(row["file"]).name.split("-")[0] if row.get("source_repo") else ""
            group = row.get("group") or row["file"]
            samples.append(Sample(root / row["file"], CLASSES.index(row["label"]), group, source))
    digest = hashlib.sha256(manifest.read_bytes()).hexdigest()
    return Dataset(root, samples, digest, "manifest")


def _from_class_folders(root: Path) -> Dataset:
    samples = []
    for index, name in enumerate(CLASSES):
        folder = root / name
        if (folder / "images").is_dir():
            folder = folder / "images"
        if not folder.is_dir():
            raise FileNotFoundError(f"class folder {name!r} not found under {root}")
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                samples.append(Sample(path, index, f"{name}/{path.stem}"))
    lines = [f"{s.key(root)},{CLASSES[s.label]}" for s in samples]
    return Dataset(root, samples, _hash_lines(lines), "kaggle")


def discover(root: Path) -> Dataset:
    """The dataset under ``root`` in either layout; raises FileNotFoundError when neither is there."""
    root = Path(root)
    if (root / "manifest.csv").is_file():
        dataset = _from_manifest(root)
    elif (root / KAGGLE_DIR).is_dir():
        dataset = _from_class_folders(root / KAGGLE_DIR)
    else:
        dataset = _from_class_folders(root)
    if not dataset.samples:
        raise FileNotFoundError(f"no images of classes {CLASSES} under {root}")
    logger.info("found %d images (%s layout) under %s", len(dataset.samples), dataset.layout, dataset.root)
    return dataset


def _class_groups(samples: list[Sample], label: int) -> dict[str, list[Sample]]:
    groups: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        if sample.label == label:
            groups[sample.group].append(sample)
    return groups


def _shuffled_groups(samples: list[Sample], label: int, rng: random.Random) -> list[list[Sample]]:
    """The groups of one class, in an order drawn from ``rng`` (the same seed gives the same order)."""
    groups = _class_groups(samples, label)
    keys = sorted(groups)
    rng.shuffle(keys)
    return [groups[key] for key in keys]


def stratified_limit(samples: list[Sample], limit: int, seed: int) -> list[Sample]:
    """About ``limit`` samples in the classes' proportions, whole groups only, at least 4 per class."""
    if limit >= len(samples):
        return samples
    rng = random.Random(seed)
    out: list[Sample] = []
    for label in range(len(CLASSES)):
        groups = _shuffled_groups(samples, label, rng)
        want = max(4, round(limit * sum(map(len, groups)) / len(samples)))
        taken: list[Sample] = []
        for group in groups:
            if len(taken) >= want:
                break
            taken += group
        out += taken
    return out


def split_by_group(
    samples: list[Sample], val_fraction: float, seed: int
) -> tuple[list[Sample], list[Sample]]:
    """Deterministic train/validation split, stratified by class; a group never spans both sides."""
    rng = random.Random(seed)
    train: list[Sample] = []
    val: list[Sample] = []
    for label in range(len(CLASSES)):
        groups = _shuffled_groups(samples, label, rng)
        target = max(1, round(sum(map(len, groups)) * val_fraction))
        taken = 0
        for group in groups:
            if taken < target:
                val += group
                taken += len(group)
            else:
                train += group
    return train, val


SUBSETS = ("val", "train", "select", "assess")
"""Sides of a run's split; ``select`` and ``assess`` are :func:`validation_halves`."""


def validation_halves(val: list[Sample]) -> tuple[list[Sample], list[Sample]]:
    """The validation side in two halves by group: ``(select, assess)``.

    Training chooses its epoch and fits the temperature on ``select`` only; the input assessment's
    thresholds and the int8 model's agreement are measured on ``assess``, images that chose nothing. Each
    class's groups are ordered by a hash of their name and dealt alternately, so the halves are stable
    across runs and machines and both hold every class.
    """
    halves: tuple[list[Sample], list[Sample]] = ([], [])
    for label in range(len(CLASSES)):
        groups = _class_groups(val, label)
        ordered = sorted(groups, key=lambda name: hashlib.sha256(name.encode()).hexdigest())
        for i, name in enumerate(ordered):
            halves[i % 2].extend(groups[name])
    return halves


def write_split(path: Path, root: Path, train: list[Sample], val: list[Sample]) -> str:
    """Write ``file,label,group,split`` for every sample; returns the file's sha256."""
    sides = (("train", train), ("val", val))
    rows = [(s.key(root), CLASSES[s.label], s.group, side) for side, part in sides for s in part]
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([("file", "label", "group", "split"), *rows])
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_split(path: Path, root: Path) -> tuple[list[Sample], list[Sample]]:
    train: list[Sample] = []
    val: list[Sample] = []
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            sample = Sample(root / row["file"], CLASSES.index(row["label"]), row["group"])
            (val if row["split"] == "val" else train).append(sample)
    return train, val


def select_samples(
    data_dir: Path, split: Path | None, subset: str, limit: int, seed: int
) -> tuple[list[Sample], str]:
    """The images to evaluate on, with the manifest's sha256: one side (``subset``) of a run's split, or
    all; about ``limit`` if set."""
    dataset = discover(data_dir)
    samples = dataset.samples
    if split is not None:
        train, val = read_split(split, dataset.root)
        select, assess = validation_halves(val)
        samples = {"val": val, "train": train, "select": select, "assess": assess}[subset]
    if limit:
        samples = stratified_limit(samples, limit, seed)
    return samples, dataset.manifest_sha256


def decode_gray(path: Path) -> np.ndarray:
    """An image file -> ``[H, W]`` float32 in [0, 1], decoded exactly as the service decodes an upload.

    EXIF orientation, alpha over black, 16-bit depth: :mod:`ml.decoding`, with every kind it reads (the
    dataset is WebP or PNG) and no pixel limit of the service's.
    """
    try:
        data = path.read_bytes()
        return decode_image(data, _ANY_SIZE, allowed=ALL_KINDS, measure_colour=False).pixels
    except DecodeError as exc:
        exc.add_note(f"while decoding {path}")
        raise


def _decode_cached(args: tuple[Path, PreprocessSpec]) -> np.ndarray:
    torch.set_num_threads(1)
    path, spec = args
    image = torch.from_numpy(decode_gray(path))
    return square_cache(image, spec).to(torch.float16).numpy()


def decode_all(samples: list[Sample], spec: PreprocessSpec, workers: int) -> torch.Tensor:
    """Decode and resize every image once: ``[N, 1, resize, resize]`` float16 in [0, 1]."""
    jobs = [(s.path, spec) for s in samples]
    if workers > 1 and len(jobs) > 64:
        # spawn, not fork: a forked child of a process that has started OpenMP or CUDA can hang.
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            arrays = list(pool.map(_decode_cached, jobs, chunksize=64))
    else:
        arrays = [_decode_cached(job) for job in jobs]
    return torch.from_numpy(np.stack(arrays))
