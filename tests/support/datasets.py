"""Generated datasets in the layout the ml package reads for the shared data: images and ``manifest.csv``."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from ml.classes import CLASSES
from ml.data import Sample, discover, split_by_group, write_split
from tests.support.images import synthetic_xray


def write_manifest(root: Path, rows: list[dict[str, str]]) -> None:
    """``root/manifest.csv`` with the rows' keys (the first row's, in order) as its header."""
    with (root / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_images(root: Path, per_class: int, prefix: str) -> Path:
    """Generated images in the manifest layout; a source prefix per file, as external-dev has."""
    rows = []
    for label, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            rel = f"{name}/{prefix}{i % 2}-{label}-{i}.png"
            synthetic_xray(label, seed=label * 1000 + i).save(root / rel)
            rows.append({"file": rel, "label": name, "group": f"{name}-{i}", "source_repo": "test"})
    write_manifest(root, rows)
    return root


@dataclass(frozen=True)
class MeasurementSet:
    """What the flag measurements read: a training database with a committed split, and an outside set."""

    data: Path
    split: Path
    external: Path
    val: list[Sample]


def write_measurement_set(root: Path) -> MeasurementSet:
    """Generated: 16 images a class split half and half by group, and an external set of two sources."""
    data = write_images(root / "data", per_class=16, prefix="train")
    external = write_images(root / "external", per_class=4, prefix="site")
    train, val = split_by_group(discover(data).samples, 0.5, seed=0)
    write_split(root / "split.csv", data, train, val)
    return MeasurementSet(data, root / "split.csv", external, val)
