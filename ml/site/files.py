"""The films a site validation reads: the folder's files in a fixed order, and their labels if given."""

from __future__ import annotations

import csv
import fnmatch
import os
from pathlib import Path


class SiteInputError(ValueError):
    """The folder, the selection or the labels cannot be used; the message says why, for the command line."""


def find_files(root: Path, pattern: str | None = None) -> list[str]:
    """Every file under ``root``, as sorted POSIX paths relative to it.

    ``pattern`` (fnmatch) selects some: one without ``/`` is matched against the file's name, one with
    ``/`` against its relative path (where ``*`` also crosses ``/``).
    """
    if not root.exists():
        raise SiteInputError(f"{root}: no such folder")
    if not root.is_dir():
        raise SiteInputError(f"{root}: not a folder")
    found = []
    for folder, _, names in os.walk(root):
        base = Path(folder).relative_to(root)
        found += [(base / name).as_posix() for name in names if (Path(folder) / name).is_file()]
    if not found:
        raise SiteInputError(f"{root}: the folder holds no file")
    if pattern is not None:
        found = [rel for rel in found if _matches(rel, pattern)]
        if not found:
            raise SiteInputError(f"{root}: no file matches --glob {pattern!r}")
    return sorted(found)


def _matches(rel: str, pattern: str) -> bool:
    target = rel if "/" in pattern else rel.rsplit("/", 1)[-1]
    return fnmatch.fnmatchcase(target, pattern)


def read_labels(path: Path, classes: list[str], files: list[str]) -> tuple[dict[str, int], int]:
    """``file,label`` rows (other columns ignored; ``file`` relative to the folder) -> the class index of
    each of ``files`` that has one, and how many rows name a file not among ``files``."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = reader.fieldnames or []
            if "file" not in columns or "label" not in columns:
                raise SiteInputError(
                    f"{path}: a labels CSV needs a header with 'file' and 'label' columns, found "
                    f"{', '.join(repr(c) for c in columns) or 'none'}"
                )
            rows = [(row["file"], row["label"], reader.line_num) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SiteInputError(f"{path}: cannot read the labels CSV: {exc}") from None
    index = {name: k for k, name in enumerate(classes)}
    labels: dict[str, int] = {}
    for file, label, line in rows:
        if not file or label is None:
            raise SiteInputError(f"{path}, line {line}: a row needs both a file and a label")
        if label.strip() not in index:
            raise SiteInputError(
                f"{path}, line {line}: unknown class {label.strip()!r}; the model's classes are "
                f"{', '.join(classes)}"
            )
        rel = Path(file.strip()).as_posix().removeprefix("./")
        k = index[label.strip()]
        if labels.setdefault(rel, k) != k:
            raise SiteInputError(f"{path}, line {line}: {rel!r} is labelled twice, differently")
    present = set(files)
    matched = {rel: k for rel, k in labels.items() if rel in present}
    if not matched:
        raise SiteInputError(
            f"{path}: none of its {len(labels)} labelled files is among the {len(files)} files read "
            "(paths are relative to the folder, as in 'COVID/image.png')"
        )
    return matched, len(labels) - len(matched)
