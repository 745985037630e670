"""Recipes side by side: ``python -m ml.studies.recipe_table NAME=VAL_DIR,EXT_DIR[,ROB_DIR] ...``.

Each entry names the ``metrics.json`` folders of one set of weights: its validation evaluation (a training
run's folder, or ``python -m ml evaluate --split ... --subset val``), its ``external-dev`` evaluation (per
source) and, optionally, its robustness run (``python -m ml robustness``). Prints one Markdown table, rows per
recipe.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

SOURCES = (("sbu", "COVID"), ("mhh", "COVID"), ("nih", "Normal"))
"""external-dev's sources and the class each one holds."""
PAIR = ("sbu", "nih")
"""The never-seen COVID source against the normals, ranked whatever the threshold (``source_ranking``)."""


def _read(folder: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((Path(folder) / "metrics.json").read_text())
    return data


def row(name: str, folders: list[str]) -> list[str]:
    val, ext = _read(folders[0]), _read(folders[1])
    cells = [name, f"{val['accuracy']:.4f}", f"{val['per_class']['COVID']['recall']:.4f}"]
    for source, label in SOURCES:
        cells.append(f"{ext['sources'][source]['recall'][label]:.3f}")
    cells.append(f"{ext['accuracy']:.4f}")
    cells.append(f"{ext['per_class']['COVID']['roc_auc']:.4f}")
    pair = [r for r in ext.get("source_ranking", []) if (r["positive"], r["negative"]) == PAIR]
    cells += [f"{pair[0]['roc_auc']:.3f}", f"{pair[0]['recall_at_specificity']:.3f}"] if pair else ["–", "–"]
    if len(folders) > 2:
        results = _read(folders[2])["results"]
        suite = next(iter(results.values()))
        cells += [f"{suite['clean']['accuracy']:.4f}", f"{suite['suite_mean_accuracy']:.4f}"]
    else:
        cells += ["", ""]
    return cells


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ml.studies.recipe_table", description=__doc__)
    parser.add_argument("entries", nargs="+", metavar="NAME=VAL_DIR,EXT_DIR[,ROB_DIR]")
    args = parser.parse_args(argv)
    header = [
        "recipe",
        "val accuracy",
        "val COVID recall",
        "Stony Brook COVID recall",
        "Hannover COVID recall",
        "NIH Normal recall",
        "external-dev accuracy",
        "external-dev COVID ROC AUC",
        "Stony Brook vs NIH: COVID ROC AUC",
        "Stony Brook COVID recall at 90% of NIH kept out",
        "suite clean",
        "suite mean",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for entry in args.entries:
        name, _, folders = entry.partition("=")
        print("| " + " | ".join(row(name, folders.split(","))) + " |")


if __name__ == "__main__":
    main()
