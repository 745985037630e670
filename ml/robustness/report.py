"""The robustness suite's Markdown report and plot, rendered from its ``metrics.json`` dictionary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from ml.classes import CLASSES
from ml.evaluation.sources import render_suite_by_source
from ml.robustness.shifts import SEVERITIES


def _f(value: float) -> str:
    return f"{value:.4f}"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _cells(m: dict[str, Any]) -> list[str]:
    return [_f(m["accuracy"]), *(_f(m["recall"][c]) for c in CLASSES), _f(m["ece"])]


def render_report(metrics: dict[str, Any]) -> str:
    results: dict[str, dict[str, Any]] = metrics["results"]
    labels = list(results)
    shifts: dict[str, dict[str, Any]] = metrics["shifts"]
    support = ", ".join(f"{k} {v}" for k, v in metrics["support"].items())
    data = metrics["data"]
    where = f"the `{data['subset']}` side of `{data['split']}`" if data["split"] else "the whole dataset"
    lines = [
        "# Shift robustness",
        "",
        f"{metrics['n']} images ({support}) from {where}, stratified limit {metrics['limit'] or 'none'}, "
        f"seed {metrics['seed']}. Each shift is applied to the decoded image before the weights' own "
        "preprocessing; probabilities use each file's temperature; ECE is top-label with 15 bins.",
        "",
    ]
    for w in metrics["weights"]:
        lines.append(
            f"- `{w['label']}`: {w['name']} {w['version']}, `{w['file']}` (sha256 {w['sha256'][:12]}), "
            f"temperature {w['temperature']:.3f}"
        )
    group = ["accuracy", *(f"recall {c}" for c in CLASSES), "ECE"]
    header = ["shift", "severity", "setting"]
    for label in labels:
        header += [f"{label} {group[0]}", *group[1:]] if len(labels) > 1 else group
    lines += ["", "## Every condition", "", _row(header), _row(["---"] * len(header))]
    lines.append(_row(["clean", "0", "none", *(c for lb in labels for c in _cells(results[lb]["clean"]))]))
    for name, info in shifts.items():
        for s in SEVERITIES:
            cells = [c for lb in labels for c in _cells(results[lb]["shifts"][name]["severities"][str(s)])]
            lines.append(_row([name, str(s), info["levels"][s - 1], *cells]))
    header = ["shift", *(f"{lb} mean accuracy" for lb in labels), *(f"{lb} vs clean" for lb in labels)]
    lines += ["", "## Mean over severities", "", _row(header), _row(["---"] * len(header))]
    for name in shifts:
        means = [results[lb]["shifts"][name]["mean_accuracy"] for lb in labels]
        drops = [m - results[lb]["clean"]["accuracy"] for m, lb in zip(means, labels, strict=True)]
        lines.append(_row([name, *map(_f, means), *(f"{d:+.4f}" for d in drops)]))
    lines += ["", "## Summary", "", _row(["", *labels]), _row(["---"] * (len(labels) + 1))]
    lines.append(_row(["clean accuracy", *(_f(results[lb]["clean"]["accuracy"]) for lb in labels)]))
    if shifts:
        lines.append(
            _row(
                [
                    f"suite mean accuracy ({len(shifts)} shifts x {len(SEVERITIES)} severities)",
                    *(_f(results[lb]["suite_mean_accuracy"]) for lb in labels),
                ]
            )
        )
        worst = [results[lb]["worst_shift"] for lb in labels]
        lines.append(
            _row(["worst shift (mean accuracy)", *(f"{w['name']} {_f(w['mean_accuracy'])}" for w in worst)])
        )
    by_source = render_suite_by_source(results)
    if by_source:
        lines += ["", by_source.rstrip("\n")]
    lines += ["", "## Shifts", "", _row(["shift", "what", "1", "2", "3"]), _row(["---"] * 5)]
    for name, info in shifts.items():
        lines.append(_row([name, info["description"], *info["levels"]]))
    return "\n".join(lines) + "\n"


def plot_robustness(path: Path, metrics: dict[str, Any]) -> None:
    """Left: mean accuracy per shift against clean; right: accuracy by severity, mean and worst shift."""
    results: dict[str, dict[str, Any]] = metrics["results"]
    shifts = list(metrics["shifts"])
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, (bars, curve) = plt.subplots(
        1, 2, figsize=(12, max(4.0, 0.32 * len(shifts) * max(1, len(results)) + 1.5))
    )
    height = 0.8 / max(1, len(results))
    ys = np.arange(len(shifts))
    for k, (label, r) in enumerate(results.items()):
        color = colors[k % len(colors)]
        means = [r["shifts"][n]["mean_accuracy"] for n in shifts]
        bars.barh(ys + k * height, means, height, color=color, label=label)
        bars.axvline(r["clean"]["accuracy"], color=color, ls="--", lw=1)
        by_severity = [[r["shifts"][n]["severities"][str(s)]["accuracy"] for n in shifts] for s in SEVERITIES]
        xs = [0, *SEVERITIES]
        clean = r["clean"]["accuracy"]
        if shifts:
            curve.plot(
                xs, [clean, *(np.mean(a) for a in by_severity)], "o-", color=color, label=f"{label} mean"
            )
            curve.plot(
                xs, [clean, *(np.min(a) for a in by_severity)], "s:", color=color, label=f"{label} worst"
            )
    bars.set_yticks(ys + height * (len(results) - 1) / 2, shifts)
    bars.invert_yaxis()
    bars.set(
        xlabel="accuracy (mean over severities; dashed: clean)",
        xlim=(0, 1),
        title="Per shift (colours as on the right)",
    )
    curve.set_xticks([0, *SEVERITIES], ["clean", *map(str, SEVERITIES)])
    curve.set(xlabel="severity", ylabel="accuracy", ylim=(0, 1), title="Over all shifts")
    curve.grid(alpha=0.3)
    curve.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
