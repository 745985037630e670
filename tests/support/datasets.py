"""Generated datasets in the layout the ml package reads for the shared data: images and ``manifest.csv``."""

from __future__ import annotations

import csv
from pathlib import Path

from ml.classes import CLASSES
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
