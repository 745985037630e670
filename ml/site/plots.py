"""The site report's PNG plots (matplotlib, Agg): the monitor's stream, the scores, the answers and, with
labels, the confusion matrix and the reliability diagram."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ml.evaluation.plots import plot_confusion
from ml.site.run import FilmResult

__all__ = ["plot_answers", "plot_confusion", "plot_reliability", "plot_scores", "plot_stream"]


def _save(fig: Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_stream(path: Path, films: list[FilmResult], monitor: dict[str, Any]) -> None:
    """Each in-scope answer's familiarity and the window's statistic along the stream, the alarm shaded."""
    fig, ax = plt.subplots(figsize=(9, 4))
    position = np.arange(1, len(films) + 1)
    familiarity = [f.assessment.scores.get("familiarity") if f.assessment.in_scope else None for f in films]
    shown = [(x, v) for x, v in zip(position, familiarity, strict=True) if v is not None]
    if shown:
        xs, ys = zip(*shown, strict=True)
        ax.scatter(xs, ys, s=6, color="0.6", label="answer's familiarity")
    statistic = [f.window.statistic if f.window and f.window.statistic is not None else np.nan for f in films]
    ax.plot(
        position, statistic, color="C0", lw=1.5, label=f"statistic (mean of the last {monitor['window']})"
    )
    alarm = np.array([bool(f.window and f.window.alarm) for f in films])
    ax.fill_between(position, 0, 1, where=alarm, step="mid", color="C3", alpha=0.15, label="alarm on")
    ax.axhline(
        monitor["alarm_below"], color="C3", ls="--", lw=1, label=f"alarm below {monitor['alarm_below']:.3f}"
    )
    ax.axhline(
        monitor["clear_above"], color="C2", ls="--", lw=1, label=f"clears above {monitor['clear_above']:.3f}"
    )
    ax.axhline(monitor["familiar_mean"], color="k", ls=":", lw=1, label="familiar mean")
    ax.set(
        xlabel="answer (files in sorted order)",
        ylabel="familiarity",
        ylim=(0, 1),
        title="Source-shift monitor",
    )
    ax.set_xlim(0.5, max(len(films), 1) + 0.5)
    ax.legend(loc="upper right", fontsize=7, ncols=2)
    _save(fig, path)


def plot_scores(path: Path, named: Mapping[str, np.ndarray | None], even: Collection[str] = ()) -> None:
    """A histogram of each per-image score of the in-scope answers. Familiar films average 0.5 on each, and
    spread evenly over [0, 1] (density 1) on the percentiles named in ``even``; familiarity, the mean of
    two such percentiles, gathers nearer 0.5."""
    shown = {name: v[np.isfinite(v)] for name, v in named.items() if v is not None and np.isfinite(v).any()}
    fig, axes = plt.subplots(1, max(len(shown), 1), figsize=(4 * max(len(shown), 1), 3.5), squeeze=False)
    for ax, (name, values) in zip(axes[0], shown.items(), strict=False):
        ax.hist(values, bins=np.linspace(0, 1, 21), density=True, color="C0", alpha=0.7, label="these films")
        if name in even:
            ax.axhline(1.0, color="k", ls="--", lw=1, label="familiar films (even)")
        ax.axvline(0.5, color="k", ls=":", lw=1, label="familiar mean")
        ax.axvline(float(values.mean()), color="C3", lw=1.5, label=f"mean {values.mean():.3f}")
        ax.set(xlabel=name, ylabel="density", xlim=(0, 1), title=f"{name} ({len(values)} answers)")
        ax.legend(fontsize=7)
    _save(fig, path)


def plot_answers(path: Path, films: list[FilmResult], classes: list[str]) -> None:
    """Answers per class, split into those a client may take alone, uncertain ones and out-of-scope ones."""
    status = [
        "out of scope"
        if not f.assessment.in_scope
        else "uncertain"
        if f.assessment.uncertain
        else "answer stands"
        for f in films
    ]
    fig, ax = plt.subplots(figsize=(6, 4))
    bottom = np.zeros(len(classes))
    for name, colour in (("answer stands", "C2"), ("uncertain", "C1"), ("out of scope", "C3")):
        counts = np.zeros(len(classes))
        for film, shown in zip(films, status, strict=True):
            counts[film.predicted] += shown == name
        ax.bar(classes, counts, bottom=bottom, color=colour, label=name)
        bottom += counts
    for x, total in enumerate(bottom):
        ax.text(x, total, str(int(total)), ha="center", va="bottom")
    ax.set(ylabel="films", title="Answers and flags")
    ax.legend()
    _save(fig, path)


def plot_reliability(path: Path, bins: list[dict[str, Any]], ece: float) -> None:
    """Accuracy against confidence in each confidence bin, with its 95% interval and its film count."""
    fig, ax = plt.subplots(figsize=(5, 4.5))
    if bins:
        conf = np.array([b["confidence"] for b in bins])
        acc = np.array([b["value"] for b in bins])
        bounds = np.array([[b["low"] for b in bins], [b["high"] for b in bins]])
        err = np.clip(np.abs(bounds - acc), 0, None)
        ax.errorbar(conf, acc, yerr=err, fmt="o-", capsize=3, label=f"these films (ECE {ece:.3f})")
        for x, y, b in zip(conf, acc, bins, strict=True):
            ax.annotate(str(b["n"]), (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set(
        xlabel="confidence", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1.02), title="Reliability (top label)"
    )
    ax.legend(loc="upper left")
    _save(fig, path)
