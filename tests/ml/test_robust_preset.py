"""The ``robust`` preset: percentile standardisation in the shared preprocessing, shift augmentation."""

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.__main__ import run
from ml.classes import CLASSES
from ml.model import load_weights
from ml.preprocessing import (
    PreprocessSpec,
    center_crop,
    eval_batch,
    eval_transform,
    normalize,
    resize_shorter,
    square_cache,
)
from ml.robustness.shifts import SHIFTS
from ml.training.config import PRESETS
from ml.training.shift_augment import ShiftAugmenter, training_shifts

SHIPPED = Path(__file__).resolve().parents[2] / "weights" / "cxr-paper-cnn.safetensors"
PERCENTILE = PreprocessSpec(standardize="percentile")


def test_the_default_spec_is_the_old_pipeline_and_old_metadata_reads_as_none() -> None:
    image = torch.rand(300, 260)
    old = normalize(center_crop(resize_shorter(image[None, None], 256), 224), PreprocessSpec())[0]
    assert torch.equal(eval_transform(image, PreprocessSpec()), old)
    legacy = {"resize": 256, "crop": 224, "mean": 0.5, "std": 0.5, "channels": 3}
    assert PreprocessSpec.from_dict(legacy) == PreprocessSpec()
    assert PreprocessSpec.from_dict(legacy).standardize == "none"
    with pytest.raises(ValueError, match="standardize"):
        PreprocessSpec.from_dict({**legacy, "standardize": "zscore"})


def test_the_shipped_weights_keep_their_preprocessing() -> None:
    if not SHIPPED.is_file():
        pytest.skip("shipped weights not present")
    assert load_weights(SHIPPED).metadata.preprocessing.standardize == "none"


def test_percentile_standardisation_undoes_a_change_of_window_and_is_shared_by_cache_and_serving() -> None:
    image = torch.rand(224, 224) * 0.5 + 0.25
    a = eval_transform(image, PERCENTILE)
    assert torch.allclose(eval_transform(image * 0.6 + 0.1, PERCENTILE), a, atol=1e-4)
    assert torch.allclose(eval_batch(square_cache(image, PERCENTILE)[None], PERCENTILE)[0], a, atol=1e-6)
    assert float(a.min()) == -1 and float(a.max()) == 1
    flat = torch.full((40, 50), 0.3)
    assert torch.allclose(eval_transform(flat, PERCENTILE), eval_transform(flat, PreprocessSpec()))


def test_the_robust_preset_names_its_additions() -> None:
    cfg = PRESETS["robust"]
    assert cfg.balanced_sampling and cfg.standardize == "percentile" and 0 < cfg.shift_fraction <= 1
    assert training_shifts(cfg.shift_names) == [n for n in SHIFTS if n != "invert"]
    assert training_shifts("jpeg, gamma") == ["jpeg", "gamma"]
    with pytest.raises(ValueError, match="fog"):
        training_shifts("fog")


def _cache(n: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(n, 40, 40, generator=gen) * 0.6 + 0.2
    return torch.stack([square_cache(image, PreprocessSpec(resize=40, crop=32)) for image in images]).half()


def test_the_augmenter_replaces_a_share_of_images_deterministically_per_epoch() -> None:
    cache = _cache(20)
    cfg = PRESETS["robust"].replace(shift_fraction=0.5)
    augmenter = ShiftAugmenter(cache, cfg, PreprocessSpec(resize=40, crop=32), workers=1)
    first = augmenter.epoch_images(cache, 0)
    assert first.shape == cache.shape and first.dtype == cache.dtype
    changed = (first != cache).flatten(1).any(1)
    assert int(changed.sum()) <= 10 and int(changed.sum()) >= 7  # a shift may rarely leave an image as is
    assert torch.equal(augmenter.epoch_images(cache, 0), first)
    assert not torch.equal(augmenter.epoch_images(cache, 1), first)
    assert float(first.min()) >= 0 and float(first.max()) <= 1
    augmenter.close()


@pytest.mark.slow
def test_worker_processes_give_the_same_images_as_the_main_process() -> None:
    cache = _cache(80)
    cfg = PRESETS["robust"]
    spec = PreprocessSpec(resize=40, crop=32)
    here = ShiftAugmenter(cache, cfg, spec, workers=1)
    pooled = ShiftAugmenter(cache, cfg, spec, workers=2)
    try:
        pooled.prepare(0)
        assert torch.equal(pooled.epoch_images(cache, 0), here.epoch_images(cache, 0))
    finally:
        pooled.close()


@pytest.fixture
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("one_thread")
def test_the_robust_preset_trains_for_an_epoch(manifest_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "robust"
    args = ["train", "--data", str(manifest_dataset), "--out", str(out), "--config", "robust"]
    assert (
        run([*args, "--epochs", "1", "--device", "cpu", "--batch-size", "8", "--set", "val_fraction=0.3"])
        == 0
    )
    meta = load_weights(out / "model.safetensors", expected_classes=list(CLASSES)).metadata
    assert meta.preprocessing.standardize == "percentile"
    assert meta.training["config"]["preset"] == "robust"
    assert meta.training["config"]["shift_fraction"] == PRESETS["robust"].shift_fraction
    history = (out / "history.csv").read_text().splitlines()
    assert len(history) == 2
    assert np.isfinite(json.loads((out / "metrics.json").read_text())["accuracy"])
