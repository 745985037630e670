"""Tiny generated datasets in both layouts the ml package reads. No real X-ray is ever used."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ml.classes import CLASSES
from tests.support.datasets import write_manifest
from tests.support.images import synthetic_xray

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "covid-radiography"


def write_manifest_layout(root: Path, per_class: int, duplicates: int = 2) -> Path:
    """The shared copy's layout: ``<class>/<stem>.png`` plus ``manifest.csv`` with groups."""
    rows = []
    for label, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            rel = f"{name}/{name}-{i}.png"
            synthetic_xray(label, seed=label * 1000 + i).save(root / rel)
            # The first `duplicates` images of a class share one group, like near-duplicate copies.
            group = f"{name}-dup" if i < duplicates else f"{name}-{i}"
            rows.append(
                {"file": rel, "label": name, "group": group, "source_repo": "test", "source_commit": "0"}
            )
    write_manifest(root, rows)
    return root


def write_kaggle_layout(parent: Path, per_class: int) -> Path:
    """The Kaggle download: ``COVID-19_Radiography_Dataset/<class>/images/*.png``, plus masks."""
    root = parent / "COVID-19_Radiography_Dataset"
    for label, name in enumerate([*CLASSES, "Lung_Opacity"]):
        (root / name / "images").mkdir(parents=True)
        (root / name / "masks").mkdir()
        for i in range(per_class):
            image = synthetic_xray(label % 3, seed=label * 1000 + i)
            image.save(root / name / "images" / f"{name}-{i + 1}.png")
            image.save(root / name / "masks" / f"{name}-{i + 1}.png")
    (root / "COVID.metadata.xlsx").write_bytes(b"not an image")
    return parent


@pytest.fixture
def manifest_dataset(tmp_path: Path) -> Path:
    return write_manifest_layout(tmp_path / "data", per_class=10)


@pytest.fixture
def kaggle_dataset(tmp_path: Path) -> Path:
    return write_kaggle_layout(tmp_path / "download", per_class=6)


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_DATA / "manifest.csv").is_file():
        pytest.skip(f"shared dataset not present at {SHARED_DATA}")
    return SHARED_DATA


TrainFn = Callable[..., Path]
