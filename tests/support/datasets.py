"""Generated datasets' ``manifest.csv``, the layout the ml package reads for the shared data."""

from __future__ import annotations

import csv
from pathlib import Path


def write_manifest(root: Path, rows: list[dict[str, str]]) -> None:
    """``root/manifest.csv`` with the rows' keys (the first row's, in order) as its header."""
    with (root / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
