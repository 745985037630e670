"""The optimizer's learning-rate groups, and the resize and crop recorded in the weights."""

from pathlib import Path

import pytest
import torch

from ml.__main__ import run
from ml.classes import CLASSES
from ml.model import build_model, load_weights
from ml.training.config import PRESETS
from ml.training.optim import early_parameters, make_optimizer, set_learning_rate

FAST = ["--device", "cpu", "--batch-size", "8", "--set", "val_fraction=0.3"]


def test_early_parameters_are_exactly_the_first_blocks_convolutions() -> None:
    model = build_model("paper_cnn_bn")
    early = early_parameters(model, 2)
    widths = {p.shape[0] for p in early}
    assert widths == {32, 64}
    first_two_blocks = sum(p.numel() for p in early)
    assert first_two_blocks == sum(p.numel() for m in list(model.body)[:13] for p in m.parameters())
    assert early_parameters(model, 0) == []


def test_the_first_blocks_move_at_their_share_of_the_rate() -> None:
    cfg = PRESETS["improved"].replace(lr=0.01, early_lr_scale=0.1, early_blocks=2, warmup_epochs=0)
    model = build_model("paper_cnn_bn")
    optimizer = make_optimizer(model, cfg)
    set_learning_rate(optimizer, cfg, epoch=0)
    rates = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    assert len(rates) == len(list(model.parameters()))
    early = {id(p) for p in early_parameters(model, 2)}
    assert all(rates[i] == pytest.approx(0.001) for i in early)
    assert all(r == pytest.approx(0.01) for i, r in rates.items() if i not in early)


def test_one_rate_for_all_when_the_scale_is_one() -> None:
    cfg = PRESETS["improved"]
    optimizer = make_optimizer(build_model("paper_cnn"), cfg)
    assert len(optimizer.param_groups) == 1
    set_learning_rate(optimizer, cfg, epoch=5)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(cfg.lr_at(5))


@pytest.mark.parametrize(("resize", "crop"), [(288, 224), (146, 128)])
def test_the_crop_trains_and_is_recorded_in_the_weights(
    manifest_dataset: Path, tmp_path: Path, resize: int, crop: int
) -> None:
    out = tmp_path / "run"
    args = ["train", "--data", str(manifest_dataset), "--out", str(out), "--epochs", "1", *FAST]
    sets = ["--set", f"resize={resize}", "--set", f"crop={crop}", "--set", "early_lr_scale=0.1"]
    assert run([*args, *sets]) == 0
    meta = load_weights(out / "model.safetensors", expected_classes=list(CLASSES)).metadata
    assert (meta.preprocessing.resize, meta.preprocessing.crop) == (resize, crop)
    assert torch.isfinite(torch.tensor(meta.temperature))
