"""Where Grad-CAM looks, as a sign of a wrong answer: ``python -m bench.cam_location``.

If the classifier told hospitals apart by their borders, burned-in text and collimation, its wrong answers
on another hospital's films would put their Grad-CAM mass (the served map, :mod:`ml.gradcam`, of the
answered class) off the chest more than its right answers do. Four summaries of each map:

* ``border``: the share of the map's mass in the outer seventh of the image on each side;
* ``off_centre``: the distance of the map's centre of mass from the image's centre, in half-widths;
* ``top``: the share in the top fifth (where text and markers sit on many films);
* ``spread``: the share of the map above half its peak.

For each, the ROC AUC of "wrong" against the summary (0.5: no sign; below 0.5: wrong answers score lower),
on the validation side's ``assess`` half, on ``external-dev`` in all and per source, and per answered
class. A flag can only use a summary whose direction is the same on both: its threshold is chosen on
validation and read on other hospitals' films.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.gated import cached_arrays, measurement_parser
from ml.data import Sample, discover, read_split, validation_halves
from ml.evaluation.metrics import roc_auc, softmax
from ml.gate.data import as_float, decode_samples
from ml.gradcam import predict_with_cam
from ml.model import LoadedWeights, load_weights
from ml.preprocessing import eval_transform

SUMMARIES = ("border", "off_centre", "top", "spread")


def cam_summaries(cams: np.ndarray) -> dict[str, np.ndarray]:
    """Each summary above for maps ``[N, h, w]`` (non-negative; an all-zero map has none of its mass off
    the chest)."""
    _, h, w = cams.shape
    mass = cams.sum(axis=(1, 2))
    safe = np.where(mass > 0, mass, 1.0)
    b = max(1, h // 7)
    inner = cams[:, b : h - b, b : w - b].sum(axis=(1, 2))
    ys, xs = np.mgrid[0:h, 0:w]
    cy, cx = (cams * ys).sum(axis=(1, 2)) / safe, (cams * xs).sum(axis=(1, 2)) / safe
    peak = cams.max(axis=(1, 2), keepdims=True)
    return {
        "border": np.where(mass > 0, 1 - inner / safe, 0.0),
        "off_centre": np.where(mass > 0, np.hypot(cy - (h - 1) / 2, cx - (w - 1) / 2) / (h / 2), 0.0),
        "top": cams[:, : max(1, h // 5)].sum(axis=(1, 2)) / safe,
        "spread": (cams > 0.5 * np.where(peak > 0, peak, 1.0)).mean(axis=(1, 2)),
    }


def answers_and_maps(weights: LoadedWeights, samples: list[Sample]) -> dict[str, np.ndarray]:
    """Labels, calibrated probabilities and each summary of the answered class's Grad-CAM."""
    images = decode_samples(samples)
    spec, model = weights.metadata.preprocessing, weights.model.eval()
    logits, cams = [], []
    for start in range(0, len(images.pixels), 64):
        chunk = images.pixels[start : start + 64]
        x = torch.stack([eval_transform(torch.from_numpy(as_float(p)), spec) for p in chunk])
        result = predict_with_cam(model, x)
        assert result.cams is not None
        logits.append(result.logits.numpy())
        cams.append(result.cams.numpy())
    return {
        "labels": images.labels,
        "probs": softmax(np.concatenate(logits), weights.metadata.temperature),
        **cam_summaries(np.concatenate(cams)),
    }


def wrong_auc(part: dict[str, np.ndarray], mask: np.ndarray | None = None) -> dict[str, Any]:
    """Per summary, the ROC AUC of wrong answers against right ones (None where either is missing)."""
    keep = np.ones(len(part["labels"]), dtype=bool) if mask is None else mask
    wrong = part["probs"].argmax(1) != part["labels"]
    out: dict[str, Any] = {"n": int(keep.sum()), "wrong": int((wrong & keep).sum())}
    for name in SUMMARIES:
        out[name] = roc_auc(part[name][keep], wrong[keep]) if keep.any() else None
    return out


def measure(
    weights: LoadedWeights, data: Path, split: Path, external: Path, cache: Path | None = None
) -> dict[str, Any]:
    _, val = read_split(split, discover(data).root)
    ext_samples = discover(external).samples
    assess = validation_halves(val)[1]
    parts = {
        "assess": cached_arrays(weights, cache, "cam-assess", lambda: answers_and_maps(weights, assess)),
        "external-dev": cached_arrays(
            weights, cache, "cam-ext", lambda: answers_and_maps(weights, ext_samples)
        ),
    }
    sources = np.array([s.source for s in ext_samples])
    rows: dict[str, Any] = {}
    for name, part in parts.items():
        rows[name] = wrong_auc(part)
        answered = part["probs"].argmax(1)
        for k in range(part["probs"].shape[1]):
            rows[f"{name}, answered {weights.metadata.classes[k]}"] = wrong_auc(part, answered == k)
    for source in sorted(set(sources)):
        rows[f"external-dev, {source}"] = wrong_auc(parts["external-dev"], sources == source)
    return rows


def render(rows: dict[str, Any]) -> str:
    lines = [
        "| images | n | wrong | " + " | ".join(SUMMARIES) + " |",
        "| --- | --- | --- | " + " | ".join("---" for _ in SUMMARIES) + " |",
    ]
    for name, r in rows.items():
        cells = ["–" if r[s] is None else f"{r[s]:.3f}" for s in SUMMARIES]
        lines.append(f"| {name} | {r['n']} | {r['wrong']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    args = measurement_parser("python -m bench.cam_location", __doc__).parse_args(argv)
    torch.set_grad_enabled(True)
    rows = measure(load_weights(args.weights), args.data, args.split, args.external, args.cache)
    print(render(rows))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
