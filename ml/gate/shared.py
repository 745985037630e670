"""Optional real training material beside the dataset: chest CT volumes and real non-chest images.

``ct-volumes/`` (chest CT volumes, rendered into frontal, lateral and oblique radiographs by
:mod:`ml.gate.drr`) and ``scope-negatives/`` (real CT slices and radiographs of other body parts, with a
``manifest.csv`` naming each file's ``kind``) are looked for in ``$CXR_SHARED_DATA``, else beside the
dataset folder (``python -m ml evaluate``, which is not given it, needs the variable). Where they are
missing the scope classifier trains on generated negatives only.

Part of each is held out for evaluation, deterministically: the CT volumes in :data:`HELD_OUT_VOLUMES` (and
every CT slice cut from them), and of the other images those whose file name hashes to 0 modulo
:data:`HELD_OUT_MODULUS`.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ml.gate.drr import Volume, load_volume

logger = logging.getLogger(__name__)

SHARED_ENV = "CXR_SHARED_DATA"
VOLUMES_DIR = "ct-volumes"
NEGATIVES_DIR = "scope-negatives"
HELD_OUT_VOLUMES = frozenset({"dcm2", "dcm7"})
"""Two of the nine CT volumes: their renderings and their slices are never trained on."""
HELD_OUT_MODULUS = 5
"""About one real negative in five (by file-name hash) is held out."""


def shared_root(data_dir: Path | None = None) -> Path | None:
    """The folder holding ``ct-volumes/`` or ``scope-negatives/``: ``$CXR_SHARED_DATA``, else the folder
    beside ``data_dir``; None where neither holds them."""
    candidates = [Path(os.environ[SHARED_ENV])] if os.environ.get(SHARED_ENV) else []
    if data_dir is not None:
        candidates.append(Path(data_dir).resolve().parent)
    for root in candidates:
        if (root / VOLUMES_DIR).is_dir() or (root / NEGATIVES_DIR).is_dir():
            return root
    return None


def volume_of(file_name: str) -> str:
    """``ct-chest/dcm3-m006-s0001-1.png`` -> ``dcm3``: the CT volume a slice was cut from."""
    return Path(file_name).name.split("-", 1)[0]


def is_held_out(file_name: str, kind: str) -> bool:
    if kind == "ct-chest":
        return volume_of(file_name) in HELD_OUT_VOLUMES
    digest = hashlib.sha256(Path(file_name).name.encode()).digest()
    return int.from_bytes(digest[:4], "big") % HELD_OUT_MODULUS == 0


@dataclass
class SharedData:
    volumes: list[Volume] = field(default_factory=list)
    negatives: dict[str, list[np.ndarray]] = field(default_factory=dict)
    """Real negatives by kind, grayscale ``[H, W]`` float32 in [0, 1]."""


def load_volumes(root: Path, held_out: bool) -> list[Volume]:
    folder = root / VOLUMES_DIR
    paths = sorted(folder.glob("*.npz")) if folder.is_dir() else []
    return [load_volume(p) for p in paths if (p.stem in HELD_OUT_VOLUMES) == held_out]


def load_negatives(root: Path, held_out: bool) -> dict[str, list[np.ndarray]]:
    manifest = root / NEGATIVES_DIR / "manifest.csv"
    if not manifest.is_file():
        return {}
    out: dict[str, list[np.ndarray]] = {}
    with manifest.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if is_held_out(row["file"], row["kind"]) != held_out:
                continue
            with Image.open(root / NEGATIVES_DIR / row["file"]) as image:
                gray = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
            out.setdefault(row["kind"], []).append(gray)
    return out


def load_shared(root: Path | None, held_out: bool) -> SharedData:
    """The training part (``held_out=False``) or the evaluation part of whatever ``root`` holds."""
    if root is None:
        logger.info("no %s or %s found: generated scope negatives only", VOLUMES_DIR, NEGATIVES_DIR)
        return SharedData()
    data = SharedData(load_volumes(root, held_out), load_negatives(root, held_out))
    logger.info(
        "%s part of %s: %d CT volumes, real negatives %s",
        "held-out" if held_out else "training",
        root,
        len(data.volumes),
        {k: len(v) for k, v in data.negatives.items()},
    )
    return data
