"""The recipe table reads each recipe's metrics.json folders into one Markdown row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml.studies.recipe_table import main


def write_metrics(folder: Path, metrics: dict[str, object]) -> str:
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return str(folder)


def external(ranked: bool) -> dict[str, object]:
    recall = {"sbu": {"COVID": 0.45}, "mhh": {"COVID": 1.0}, "nih": {"Normal": 0.947}}
    metrics: dict[str, object] = {
        "accuracy": 0.87,
        "per_class": {"COVID": {"roc_auc": 0.9}},
        "sources": {name: {"recall": r} for name, r in recall.items()},
    }
    if ranked:
        metrics["source_ranking"] = [
            {
                "class": "COVID",
                "positive": "sbu",
                "negative": "nih",
                "roc_auc": 0.841,
                "recall_at_specificity": 0.57,
            },
            {
                "class": "Normal",
                "positive": "nih",
                "negative": "sbu",
                "roc_auc": 0.837,
                "recall_at_specificity": 0.5,
            },
        ]
    return metrics


def test_a_row_per_recipe_with_the_ranking_where_it_was_measured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    val = write_metrics(tmp_path / "val", {"accuracy": 0.9731, "per_class": {"COVID": {"recall": 0.945}}})
    new = write_metrics(tmp_path / "new", external(ranked=True))
    old = write_metrics(tmp_path / "old", external(ranked=False))

    main([f"ranked={val},{new}", f"older={val},{old}"])

    lines = capsys.readouterr().out.splitlines()
    assert "Stony Brook vs NIH: COVID ROC AUC" in lines[0]
    assert lines[2].startswith(
        "| ranked | 0.9731 | 0.9450 | 0.450 | 1.000 | 0.947 | 0.8700 | 0.9000 | 0.841 | 0.570 |"
    )
    assert lines[3].startswith("| older |") and "| – | – |" in lines[3]
