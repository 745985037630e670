"""The input assessment's part of an evaluation: ``gate.json``, ``gate.md`` and ``risk_coverage.png``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def plot_risk_coverage(path: Path, curves: dict[str, list[float]], operating: dict[str, Any]) -> None:
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name in ("confidence", "typicality"):
        ax.plot(curves["coverage"], curves[f"{name}_risk"], label=f"most {name} first")
    if operating["accuracy_unflagged"] is not None:
        ax.scatter(
            [operating["coverage"]],
            [1 - operating["accuracy_unflagged"]],
            color="black",
            zorder=3,
            label="the gate's unflagged answers",
        )
    ax.set(
        xlabel="coverage (share of images answered)",
        ylabel="risk (error rate of those answers)",
        title="Risk-coverage on the validation split",
        xlim=(0, 1),
        ylim=(0, None),
    )
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _quality_row(name: str, q: dict[str, Any]) -> str:
    return (
        f"| {name} | {q['n']} | {_pct(q['accuracy'])} | {_pct(q['out_of_scope'])} | {_pct(q['uncertain'])} "
        f"| {_pct(q['coverage'])} | {_pct(q['accuracy_unflagged'])} | {_pct(q['accuracy_flagged'])} "
        f"| {_pct(q['errors_flagged'])} |"
    )


_HEADER = (
    "| images | n | accuracy | out of scope | uncertain | unflagged | accuracy unflagged "
    "| accuracy flagged | errors flagged |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def render(results: dict[str, Any]) -> str:
    lines = ["## Input assessment", "", f"Thresholds: `{json.dumps(results['thresholds'])}`", "", _HEADER]
    images = results.get("images", "validation")
    lines.append(_quality_row(images, results["validation"]))
    for source, q in results.get("by_source", {}).items():
        lines.append(_quality_row(f"{images}, {source}", q))
    for name, q in results.get("shifted", {}).items():
        lines.append(_quality_row(f"{images}, {name} (severity {results['shift_severity']})", q))
    neg = results.get("negatives")
    if neg:
        lines += [
            "",
            f"Held-out negatives caught (out of scope): **{_pct(neg['caught'])}** of {neg['n_negatives']}; "
            "held-out frontal X-rays (60% of them under one or two random suite shifts) put out of scope: "
            f"{_pct(neg['frontal_out_of_scope'])}.",
            "",
            "| kind | share out of scope |",
            "| --- | --- |",
        ]
        lines += [f"| {kind} | {_pct(share)} |" for kind, share in neg["by_kind"].items()]
    lines += ["", f"Reasons on {images}: `{json.dumps(results['validation']['reasons'])}`", ""]
    lines.append("![risk-coverage](risk_coverage.png)")
    return "\n".join(lines) + "\n"


def write_gate_outputs(out: Path, results: dict[str, Any], curves: dict[str, list[float]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "gate.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "gate.md").write_text(render(results))
    plot_risk_coverage(out / "risk_coverage.png", curves, results["validation"])
