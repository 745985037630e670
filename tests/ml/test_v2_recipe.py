"""Weights v2's recipe: equalisation, style randomisation, warm start, decode cache, per-source reports."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.__main__ import run
from ml.classes import CLASSES
from ml.data import discover
from ml.evaluation.sources import has_sources, per_source, source_ranking
from ml.model import build_model, load_weights
from ml.preprocessing import PreprocessSpec, eval_transform, percentiles, standardize
from ml.training.checkpoint import TrainState, save_checkpoint
from ml.training.config import PRESETS
from ml.training.data import decode_cached, epoch_order
from ml.training.distributed import Dist
from ml.training.style import MixStyle, histogram_match
from ml.training.train import warm_start
from tests.support.datasets import write_manifest
from tests.support.images import synthetic_xray
from tests.support.weights import write_random_weights

EQUALIZE = PreprocessSpec(standardize="equalize")


@pytest.fixture
def trained_weights(tmp_path: Path) -> Path:
    return write_random_weights(tmp_path / "start.safetensors", gate=None)


def write_test_set(root: Path, per_source: int = 4) -> Path:
    """An external-dev-like test set: sources told apart by file prefix, no ``group`` column."""
    rows = []
    for label, prefix in ((0, "sbu"), (0, "mhh"), (1, "nih")):
        name = CLASSES[label]
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_source):
            rel = f"{name}/{prefix}-{i:04d}.png"
            synthetic_xray(label, seed=hash((prefix, i)) % 10_000).save(root / rel)
            rows.append({"file": rel, "label": name, "source_repo": f"repo-{prefix}", "source_commit": "0"})
    write_manifest(root, rows)
    return root


def test_percentiles_equal_torch_quantile_and_have_no_size_limit() -> None:
    x = torch.rand(3, 5000)
    expected = torch.quantile(x, torch.tensor([0.01, 0.5, 0.99]), dim=1)
    assert torch.allclose(percentiles(x, (0.01, 0.5, 0.99)), expected, atol=1e-6)
    big = torch.rand(1, 1, 256, 70_000)  # 17.9M values: torch.quantile refuses more than 2^24
    out = standardize(big, PreprocessSpec(standardize="percentile"))
    assert out.shape == big.shape and float(out.min()) == 0 and float(out.max()) == 1


def test_equalisation_undoes_any_monotone_intensity_change() -> None:
    image = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.2
    a = standardize(image, EQUALIZE)
    for changed in (image**2.2, image * 0.3 + 0.5, torch.sqrt(image)):
        # Not exact: a change that compresses the range merges some of the 256 bins.
        assert float((standardize(changed, EQUALIZE) - a).abs().max()) < 0.02
    assert float(a.min()) < 0.01 and float(a.max()) > 0.99
    flat = standardize(torch.full((1, 1, 8, 8), 0.3), EQUALIZE)
    assert torch.allclose(flat, torch.full_like(flat, 0.5))
    assert eval_transform(torch.rand(300, 260), EQUALIZE).shape == (3, 224, 224)


def test_histogram_matching_keeps_each_images_pixel_order_and_takes_anothers_values() -> None:
    gen = torch.Generator().manual_seed(0)
    batch = torch.stack([torch.rand(1, 16, 16) ** p for p in (0.5, 1.0, 2.0, 3.0)])
    out = histogram_match(batch, 1.0, gen)
    originals = sorted(tuple(b.flatten().sort().values.tolist()) for b in batch)
    for before, after in zip(batch, out, strict=True):
        assert torch.equal(before.flatten().argsort(), after.flatten().argsort())
        assert tuple(after.flatten().sort().values.tolist()) in originals
    assert not torch.equal(out, batch)  # four images and a random partner: some image changed
    assert torch.equal(histogram_match(batch, 0.0, gen), batch)


def test_mixstyle_mixes_only_the_first_blocks_and_is_reproducible() -> None:
    x = torch.randn(6, 8, 10, 10) * torch.arange(1, 7).view(6, 1, 1, 1)
    mix = MixStyle(prob=1.0, alpha=0.1, blocks=2, seed=0)
    assert torch.equal(mix(x, 2), x)
    mixed = mix(x, 0)
    assert mixed.shape == x.shape and not torch.allclose(mixed, x)
    again = MixStyle(prob=1.0, alpha=0.1, blocks=2, seed=0)
    assert torch.equal(again(x, 0), mixed)
    never = MixStyle(prob=0.0, alpha=0.1, blocks=2, seed=0)
    model = build_model("paper_cnn_bn").eval()
    image = torch.randn(2, 3, 32, 32)
    assert torch.equal(model(image, mix=never), model(image))


def test_an_epoch_can_be_a_fixed_number_of_balanced_draws() -> None:
    labels = torch.tensor([0] * 10 + [1] * 80 + [2] * 10)
    cfg = PRESETS["improved"].replace(balanced_sampling=True, epoch_images=300)
    order = epoch_order(cfg, labels, epoch=0, env=Dist())
    assert len(order) == 300
    counts = torch.bincount(labels[order], minlength=3)
    assert int(counts.min()) > 60  # about 100 each, not 30 / 240 / 30
    assert torch.equal(order, epoch_order(cfg, labels, epoch=0, env=Dist()))
    plain = epoch_order(PRESETS["improved"], labels, epoch=0, env=Dist())
    assert sorted(plain.tolist()) == list(range(100))


def test_decoded_images_are_cached_once_and_read_back_equal(manifest_dataset: Path, tmp_path: Path) -> None:
    samples = discover(manifest_dataset).samples[:6]
    cache = tmp_path / "cache"
    first = decode_cached(samples, PreprocessSpec(), cache)
    files = list(cache.glob("images-*.npy"))
    assert len(files) == 1
    assert torch.equal(decode_cached(samples, PreprocessSpec(), cache), first)
    decode_cached(samples, EQUALIZE, cache)
    assert len(list(cache.glob("images-*.npy"))) == 2  # the spec is part of the key


def test_a_test_set_is_read_with_its_sources_and_scored_per_source(tmp_path: Path) -> None:
    samples = discover(write_test_set(tmp_path / "ext")).samples
    assert has_sources(samples)
    assert sorted({s.source for s in samples}) == ["mhh", "nih", "sbu"]
    assert len({s.group for s in samples}) == len(samples)
    labels = np.array([s.label for s in samples])
    logits = np.zeros((len(samples), 3))
    logits[np.arange(len(samples)), labels] = 5.0
    logits[[s.source == "sbu" for s in samples], 1] = 9.0  # every Stony Brook film called Normal
    result = per_source(logits, labels, [s.source for s in samples])
    assert result["sbu"]["accuracy"] == 0 and result["sbu"]["predicted"]["Normal"] == 4
    assert result["mhh"]["recall"] == {"COVID": 1.0} and result["nih"]["recall"] == {"Normal": 1.0}


def test_ranking_one_source_against_another_ignores_where_the_threshold_lies() -> None:
    sources = ["sbu"] * 10 + ["nih"] * 10 + ["mix"] * 2
    labels = np.array([0] * 10 + [1] * 10 + [0, 1])
    logits = np.zeros((22, 3))
    # Every Stony Brook film is called Normal, yet each has more COVID in it than any NIH film.
    logits[:10, 0] = np.linspace(1.0, 2.0, 10)
    logits[:10, 1] = 3.0
    logits[10:20, 0] = np.linspace(-2.0, 0.5, 10)
    logits[10:20, 1] = 3.0
    rows = {(r["positive"], r["negative"]): r for r in source_ranking(logits, labels, sources)}
    assert set(rows) == {("sbu", "nih"), ("nih", "sbu")}  # a source of two classes is left out
    assert per_source(logits, labels, sources)["sbu"]["accuracy"] == 0
    assert rows["sbu", "nih"]["roc_auc"] == 1.0 and rows["sbu", "nih"]["recall_at_specificity"] == 1.0
    assert rows["nih", "sbu"]["class"] == "Normal" and rows["nih", "sbu"]["roc_auc"] == 1.0
    logits[:10, 0] = -3.0  # now below every NIH film
    rows = {(r["positive"], r["negative"]): r for r in source_ranking(logits, labels, sources)}
    assert rows["sbu", "nih"]["roc_auc"] == 0.0 and rows["sbu", "nih"]["recall_at_specificity"] == 0.0


def test_warm_start_copies_a_weights_files_tensors(trained_weights: Path) -> None:
    loaded = load_weights(trained_weights)
    model = build_model(loaded.metadata.architecture)
    warm_start(model, str(trained_weights))
    for name, tensor in loaded.model.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name


@pytest.mark.parametrize("standardize_mode", ["equalize", "percentile"])
def test_a_style_randomised_warm_start_logs_the_monitor_set_per_source(
    manifest_dataset: Path, trained_weights: Path, tmp_path: Path, standardize_mode: str
) -> None:
    test_set = write_test_set(tmp_path / "ext")
    out = tmp_path / "run"
    arch = load_weights(trained_weights).metadata.architecture
    args = ["train", "--data", str(manifest_dataset), "--out", str(out), "--epochs", "1", "--device", "cpu"]
    args += ["--batch-size", "8", "--monitor", str(test_set), "--cache", str(tmp_path / "cache")]
    for pair in (
        f"architecture={arch}",
        f"init_from={trained_weights}",
        f"standardize={standardize_mode}",
        "histogram_match=0.5",
        "mixstyle=0.5",
        "balanced_sampling=true",
        "epoch_images=24",
        "val_fraction=0.3",
    ):
        args += ["--set", pair]
    assert run(args) == 0
    with (out / "history.csv").open() as fh:
        row = next(csv.DictReader(fh))
    assert {"monitor_sbu", "monitor_mhh", "monitor_nih"} <= row.keys()
    meta = load_weights(out / "model.safetensors").metadata
    assert meta.preprocessing.standardize == standardize_mode
    assert meta.training["config"]["init_from"] == str(trained_weights)


def test_evaluate_reports_a_test_set_per_source(trained_weights: Path, tmp_path: Path) -> None:
    test_set = write_test_set(tmp_path / "ext")
    out = tmp_path / "eval"
    args = ["evaluate", "--weights", str(trained_weights), "--data", str(test_set), "--out", str(out)]
    assert run([*args, "--device", "cpu", "--gate-shift-images", "0", "--gate-negatives", "0"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert sorted(metrics["sources"]) == ["mhh", "nih", "sbu"]
    assert metrics["sources"]["sbu"]["n"] == 4
    assert "## Per source" in (out / "report.md").read_text()
    pairs = {(r["positive"], r["negative"]) for r in metrics["source_ranking"]}
    assert {("sbu", "nih"), ("mhh", "nih"), ("nih", "sbu"), ("nih", "mhh")} == pairs
    assert "## One source against another" in (out / "report.md").read_text()


def test_evaluate_judges_the_input_assessment_per_source_of_a_test_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CXR_SHARED_DATA", raising=False)
    weights = write_random_weights(tmp_path / "gated.safetensors")
    test_set, out = write_test_set(tmp_path / "ext"), tmp_path / "eval"
    args = [
        "evaluate",
        "--weights",
        str(weights),
        "--data",
        str(test_set),
        "--out",
        str(out),
        "--device",
        "cpu",
    ]
    assert run([*args, "--gate-shift-images", "0", "--gate-negatives", "1"]) == 0
    results = json.loads((out / "gate.json").read_text())
    assert results["images"] == "ext"
    assert {s: q["n"] for s, q in results["by_source"].items()} == {"mhh": 4, "nih": 4, "sbu": 4}
    sbu_right = results["by_source"]["sbu"]["accuracy"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert sbu_right == metrics["sources"]["sbu"]["accuracy"]
    report = (out / "gate.md").read_text()
    assert "| ext | 12 |" in report and "| ext, sbu | 4 |" in report


def test_the_robustness_suite_reports_a_test_set_per_source(trained_weights: Path, tmp_path: Path) -> None:
    test_set = write_test_set(tmp_path / "ext")
    out = tmp_path / "rob"
    args = ["robustness", "--weights", str(trained_weights), "--data", str(test_set), "--out", str(out)]
    assert run([*args, "--limit", "0", "--shifts", "jpeg,gamma", "--device", "cpu"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    by_source = next(iter(metrics["results"].values()))["sources"]
    assert sorted(by_source) == ["mhh", "nih", "sbu"]
    assert 0 <= by_source["sbu"]["suite_mean_accuracy"] <= 1
    assert by_source["nih"]["clean"]["n"] == 4
    assert "## Per source" in (out / "report.md").read_text()


def test_warm_start_also_takes_a_training_checkpoint(tmp_path: Path) -> None:
    source = build_model("paper_cnn_bn")
    torch.nn.init.constant_(source.fc2.bias, 0.25)
    state = TrainState(epoch=2, best_accuracy=0.5, history=[], config={})
    save_checkpoint(tmp_path / "best.ckpt.safetensors", source, None, None, state)
    model = build_model("paper_cnn_bn")
    warm_start(model, str(tmp_path / "best.ckpt.safetensors"))
    assert torch.equal(model.fc2.bias, source.fc2.bias)
