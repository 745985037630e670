"""PNG request bodies, in memory only: real X-rays from the shared data set when present, else synthetic.

The shared copy stores WebP; each chosen file is decoded and re-encoded as PNG here, never written out.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "covid-radiography"
_EXTENSIONS = (".webp", ".png", ".jpg", ".jpeg")


def encode_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def synthetic_xray(rng: np.random.Generator, size: int = 224) -> Image.Image:
    """A grayscale picture with an X-ray's broad structure: dark lung fields in a brighter body, noise."""
    ys, xs = np.mgrid[0:size, 0:size] / size
    body = 0.75 - 0.35 * ((xs - 0.5) ** 2 + (ys - 0.55) ** 2)
    for centre in (0.3, 0.7):
        cx = centre + rng.uniform(-0.03, 0.03)
        lung = ((xs - cx) / 0.16) ** 2 + ((ys - 0.5) / 0.3) ** 2 < 1
        body = np.where(lung, body - rng.uniform(0.3, 0.45), body)
    body = body + rng.normal(0, 0.04, size=(size, size))
    pixels = np.clip(body * 255, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, mode="L")


def shared_files(data_dir: Path, count: int, seed: int) -> list[Path]:
    """``count`` files spread over the class folders, chosen reproducibly; empty when the folder is absent."""
    if not data_dir.is_dir():
        return []
    files = sorted(p for p in data_dir.rglob("*") if p.suffix.lower() in _EXTENSIONS)
    if not files:
        return []
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(files), size=min(count, len(files)), replace=False)
    return [files[int(i)] for i in sorted(picks)]


def load_pngs(count: int, data_dir: Path | None = DEFAULT_DATA_DIR, seed: int = 0) -> tuple[list[bytes], str]:
    """``count`` PNG bodies and a description of where they came from."""
    files = shared_files(data_dir, count, seed) if data_dir is not None else []
    if files:
        bodies = []
        for path in files:
            with Image.open(path) as image:
                bodies.append(encode_png(image.convert("L")))
        return bodies, f"{len(bodies)} X-rays from {data_dir}, re-encoded as PNG in memory"
    rng = np.random.default_rng(seed)
    bodies = [encode_png(synthetic_xray(rng)) for _ in range(count)]
    return bodies, f"{count} synthetic 224x224 grayscale PNGs"
