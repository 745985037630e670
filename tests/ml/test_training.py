"""End-to-end runs of the CLI on ~30 generated images, on the CPU."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ml.__main__ import run
from ml.classes import CLASSES
from ml.data import read_split, validation_halves
from ml.model import load_weights, read_header

RUN_OUTPUTS = [
    "model.safetensors",
    "metrics.json",
    "history.csv",
    "config.json",
    "split.csv",
    "report.md",
    "curves.png",
    "confusion_matrix.png",
    "roc.png",
    "reliability.png",
    "checkpoint.ckpt.safetensors",
]
FAST = ["--device", "cpu", "--batch-size", "8", "--set", "val_fraction=0.3"]


def _history(out: Path) -> list[dict[str, str]]:
    with (out / "history.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_one_epoch_smoke_training_writes_every_output(manifest_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert run(["train", "--data", str(manifest_dataset), "--out", str(out), "--epochs", "1", *FAST]) == 0
    for name in RUN_OUTPUTS:
        assert (out / name).is_file(), name
    loaded = load_weights(out / "model.safetensors", expected_classes=list(CLASSES))
    meta = loaded.metadata
    assert meta.architecture == "paper_cnn"
    assert meta.preprocessing.crop == 224
    assert meta.temperature > 0
    assert meta.training["config"]["epochs"] == 1
    assert len(meta.data_manifest_sha256) == 64
    assert "accuracy" in meta.metrics["validation"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"accuracy", "per_class", "confusion_matrix"} <= metrics.keys()
    assert "97.17" in (out / "report.md").read_text() or "0.9717" in (out / "report.md").read_text()
    assert json.loads((out / "config.json").read_text())["lr"] == 0.01
    # The epoch and the temperature are chosen on the select half only.
    _, val = read_split(out / "split.csv", manifest_dataset)
    assert metrics["n"] == len(validation_halves(val)[0]) < len(val)


def test_resume_continues_from_the_saved_epoch(manifest_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    run(["train", "--data", str(manifest_dataset), "--out", str(out), "--epochs", "1", *FAST])
    ckpt = out / "checkpoint.ckpt.safetensors"
    assert read_header(ckpt)["epoch"] == "0"
    run(
        [
            "train",
            "--data",
            str(manifest_dataset),
            "--out",
            str(out),
            "--epochs",
            "2",
            "--resume",
            str(ckpt),
            *FAST,
        ]
    )
    history = _history(out)
    assert [row["epoch"] for row in history] == ["1", "2"]
    assert read_header(ckpt)["epoch"] == "1"


def test_kaggle_download_trains_too(kaggle_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    run(
        [
            "train",
            "--data",
            str(kaggle_dataset),
            "--out",
            str(out),
            "--epochs",
            "1",
            "--config",
            "improved",
            *FAST,
        ]
    )
    assert load_weights(out / "model.safetensors").metadata.architecture == "paper_cnn_bn"


def test_evaluate_and_export_work_on_a_trained_file(manifest_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    run(["train", "--data", str(manifest_dataset), "--out", str(out), "--epochs", "1", *FAST])
    run(
        [
            "evaluate",
            "--weights",
            str(out / "model.safetensors"),
            "--data",
            str(manifest_dataset),
            "--out",
            str(tmp_path / "eval"),
            "--device",
            "cpu",
        ]
    )
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["n"] == 30
    assert sum(map(sum, metrics["confusion_matrix"])) == 30
    release = tmp_path / "release.safetensors"
    run(["export", "--weights", str(out / "model.safetensors"), "--out", str(release), "--version", "9.9.9"])
    assert load_weights(release).metadata.version == "9.9.9"
    assert load_weights(release).int8 is None
    calibrated = tmp_path / "int8.safetensors"
    split = ["--split", str(out / "split.csv")]
    run(
        [
            "export",
            "--weights",
            str(release),
            "--out",
            str(calibrated),
            "--version",
            "9.9.10",
            "--int8",
            str(manifest_dataset),
            *split,
        ]
    )
    int8 = load_weights(calibrated).int8
    assert int8 is not None and len(int8.activation_max) == 8
    assert int8.calibrated["images"] > int8.calibrated["validation_images"] > 0
    # Calibrated on the select half: the assess half is left to measure the agreement on.
    _, val = read_split(out / "split.csv", manifest_dataset)
    assert int8.calibrated["validation_half"] == "select"
    assert int8.calibrated["validation_images"] == len(validation_halves(val)[0])


@pytest.mark.slow
def test_two_process_torchrun_smoke_run_on_cpu(manifest_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "ml",
        "train",
        "--data",
        str(manifest_dataset),
        "--out",
        str(out),
        "--epochs",
        "1",
        *FAST,
    ]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "model.safetensors").is_file()
    assert len(_history(out)) == 1
