"""The shift registry and ``python -m ml robustness``, on generated images and random weights only."""

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.__main__ import run
from ml.classes import CLASSES
from ml.data import decode_gray, discover
from ml.model import WeightsMetadata, build_model, load_weights, save_weights
from ml.preprocessing import PreprocessSpec, eval_transform
from ml.robustness.shifts import SEVERITIES, SHIFTS, apply_shift

SMALL_SPEC = PreprocessSpec(resize=40, crop=32)
ALL = [(name, severity) for name in SHIFTS for severity in SEVERITIES]


def textured(height: int = 256, width: int = 288, seed: int = 0) -> np.ndarray:
    """A gradient with a bright band and fine noise, away from 0 and 1 so every shift shows.

    256 pixels high, because blur and sharpening scale with the image's size relative to the model's.
    """
    rng = np.random.default_rng(seed)
    x = np.arange(width)[None, :]
    image = 0.25 + 0.4 * x / width + 0.05 * rng.standard_normal((height, width))
    image[height // 3 : height // 2] += 0.2
    return np.clip(image, 0.05, 0.95).astype(np.float32)


def shifted(name: str, severity: int, seed: int = 0, image: np.ndarray | None = None) -> np.ndarray:
    return apply_shift(textured() if image is None else image, name, severity, np.random.default_rng(seed))


def test_the_registry_has_every_shift_the_suite_documents() -> None:
    assert len(SHIFTS) == 18
    assert SEVERITIES == (1, 2, 3)
    for name, shift in SHIFTS.items():
        assert shift.name == name
        assert len(shift.levels) == 3 and shift.description


@pytest.mark.parametrize(("name", "severity"), ALL)
def test_every_shift_returns_a_valid_deterministic_changed_image(name: str, severity: int) -> None:
    image = textured()
    before = image.copy()
    out = shifted(name, severity, image=image)
    assert out.dtype == np.float32 and out.ndim == 2
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert np.array_equal(image, before), "the input must not be modified"
    assert np.array_equal(out, shifted(name, severity, image=image)), "same seed, same image"
    if name == "aspect_squash":
        assert out.shape != image.shape
    else:
        assert out.shape == image.shape
        assert np.abs(out - image).mean() > 1e-3


@pytest.mark.parametrize("name", list(SHIFTS))
def test_tiny_and_flat_images_stay_valid(name: str) -> None:
    for image in (textured(6, 7), np.full((20, 24), 0.5, dtype=np.float32), np.zeros((9, 9), np.float32)):
        for severity in SEVERITIES:
            out = shifted(name, severity, image=image)
            assert out.ndim == 2 and out.dtype == np.float32 and out.size > 0
            assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_inverted_polarity_is_exactly_one_minus_x_at_every_severity() -> None:
    image = textured()
    for severity in SEVERITIES:
        assert np.array_equal(shifted("invert", severity, image=image), 1 - image)


@pytest.mark.parametrize("name", ["zoom_in", "text_markers", "gaussian_noise", "poisson_noise", "rotation"])
def test_random_shifts_draw_from_the_generator(name: str) -> None:
    assert not np.array_equal(shifted(name, 2, seed=1), shifted(name, 2, seed=2))


@pytest.mark.parametrize(
    "name", ["jpeg", "gaussian_blur", "sharpen", "gaussian_noise", "poisson_noise", "zoom_out_black"]
)
def test_stronger_severities_change_the_image_more(name: str) -> None:
    image = textured()
    change = [np.abs(shifted(name, s, image=image) - image).mean() for s in SEVERITIES]
    assert change[0] < change[1] < change[2]


def test_zoom_out_borders_are_black_or_white_and_zoom_in_keeps_the_size() -> None:
    black, white = shifted("zoom_out_black", 3), shifted("zoom_out_white", 3)
    assert (black == 0).mean() >= 1 - 0.6**2 - 0.01
    assert (white == 1).mean() >= 1 - 0.6**2 - 0.01
    assert shifted("zoom_in", 3).shape == textured().shape


def test_aspect_squash_stays_within_its_ratio_range() -> None:
    h, w = textured().shape
    for seed in range(6):
        for severity in SEVERITIES:
            oh, ow = shifted("aspect_squash", severity, seed=seed).shape
            ratio = (ow / oh) / (w / h)
            assert 0.79 <= ratio <= 1.26 and ratio != pytest.approx(1)


def test_detector_depths_quantise_the_image() -> None:
    levels = len(np.unique(shifted("bit12_window", 3)))
    assert levels <= 0.06 * 4095 + 2
    assert len(np.unique(shifted("bit16_window", 1))) > 1000


def test_bad_names_severities_and_shapes_are_rejected() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(KeyError):
        apply_shift(textured(), "fog", 1, rng)
    with pytest.raises(ValueError):
        apply_shift(textured(), "jpeg", 4, rng)
    with pytest.raises(ValueError):
        apply_shift(np.zeros((4, 4, 3), np.float32), "jpeg", 1, rng)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny forward passes: one thread is faster, and far faster when other processes share the CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _random_weights(path: Path, temperature: float, seed: int) -> Path:
    torch.manual_seed(seed)
    model = build_model("paper_cnn", len(CLASSES))
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    meta = WeightsMetadata(
        architecture="paper_cnn",
        classes=list(CLASSES),
        preprocessing=SMALL_SPEC,
        temperature=temperature,
        name=f"random-{seed}",
    )
    save_weights(path, model, meta)
    return path


@pytest.mark.usefixtures("one_thread")
def test_cli_writes_a_consistent_report_for_several_weights(manifest_dataset: Path, tmp_path: Path) -> None:
    a = _random_weights(tmp_path / "a.safetensors", 1.0, seed=0)
    b = _random_weights(tmp_path / "b.safetensors", 2.0, seed=1)
    out = tmp_path / "robustness"
    args = ["robustness", "--weights", str(a), "--weights", str(b), "--data", str(manifest_dataset)]
    shifts = "jpeg,invert,zoom_out_black,aspect_squash,text_markers"
    assert run([*args, "--out", str(out), "--device", "cpu", "--batch-size", "16", "--shifts", shifts]) == 0
    for name in ("metrics.json", "report.md", "robustness.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert (out / "robustness.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 30 and sum(metrics["support"].values()) == 30
    assert list(metrics["results"]) == ["a", "b"] and list(metrics["shifts"]) == shifts.split(",")

    # The clean baseline is exactly the served path: eval_transform on the decoded image, then argmax.
    loaded = load_weights(a)
    samples = discover(manifest_dataset).samples
    x = torch.stack([eval_transform(torch.from_numpy(decode_gray(s.path)), SMALL_SPEC) for s in samples])
    with torch.no_grad():
        preds = loaded.model.eval()(x).argmax(1).numpy()
    expected = float((preds == np.array([s.label for s in samples])).mean())
    assert metrics["results"]["a"]["clean"]["accuracy"] == pytest.approx(expected)

    report = (out / "report.md").read_text()
    for r in metrics["results"].values():
        per_shift = r["shifts"]
        for entry in per_shift.values():
            accs = [entry["severities"][str(s)]["accuracy"] for s in SEVERITIES]
            assert entry["mean_accuracy"] == pytest.approx(np.mean(accs))
            for m in entry["severities"].values():
                hits = sum(m["recall"][c] * metrics["support"][c] for c in CLASSES)
                assert m["accuracy"] == pytest.approx(hits / metrics["n"])
                assert 0 <= m["ece"] <= 1
            assert f"{entry['mean_accuracy']:.4f}" in report
        means = [e["mean_accuracy"] for e in per_shift.values()]
        assert r["suite_mean_accuracy"] == pytest.approx(np.mean(means))
        assert r["worst_shift"]["mean_accuracy"] == min(means)
        assert per_shift[r["worst_shift"]["name"]]["mean_accuracy"] == min(means)
        assert f"{r['clean']['accuracy']:.4f}" in report
        assert f"{r['suite_mean_accuracy']:.4f}" in report
        inverted = per_shift["invert"]["severities"]
        assert inverted["1"] == inverted["2"] == inverted["3"]
    # Three condition rows, one mean row and one definition row per shift.
    assert len([line for line in report.splitlines() if line.startswith("| jpeg |")]) == 5


@pytest.mark.usefixtures("one_thread")
def test_cli_runs_a_chosen_subset_of_shifts_and_rejects_unknown_ones(
    manifest_dataset: Path, tmp_path: Path
) -> None:
    w = _random_weights(tmp_path / "w.safetensors", 1.5, seed=0)
    out = tmp_path / "some"
    base = ["robustness", "--weights", str(w), "--data", str(manifest_dataset), "--device", "cpu"]
    assert run([*base, "--out", str(out), "--shifts", "jpeg, invert", "--limit", "12"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["shifts"]) == ["jpeg", "invert"]
    assert metrics["n"] >= 12
    with pytest.raises(SystemExit, match="fog"):
        run([*base, "--out", str(tmp_path / "bad"), "--shifts", "fog"])
