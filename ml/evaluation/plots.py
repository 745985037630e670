"""PNG plots of a run: learning curves, confusion matrix, one-vs-rest ROC and reliability."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ml.evaluation.metrics import roc_auc, roc_curve, softmax


def _save(fig: Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_history(path: Path, history: list[dict[str, float]]) -> None:
    if not history:
        return
    epochs = [r["epoch"] for r in history]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4))
    loss_ax.plot(epochs, [r["train_loss"] for r in history], label="train")
    loss_ax.plot(epochs, [r["val_loss"] for r in history], label="validation")
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy", title="Loss")
    acc_ax.plot(epochs, [r["train_accuracy"] for r in history], label="train")
    acc_ax.plot(epochs, [r["val_accuracy"] for r in history], label="validation")
    acc_ax.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    _save(fig, path)


def plot_confusion(path: Path, matrix: np.ndarray, classes: list[str]) -> None:
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=20)
    ax.set_yticks(range(len(classes)), classes)
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix")
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(
                j,
                i,
                str(matrix[i, j]),
                ha="center",
                va="center",
                color="white" if matrix[i, j] > threshold else "black",
            )
    _save(fig, path)


def plot_roc(path: Path, logits: np.ndarray, labels: np.ndarray, classes: list[str]) -> None:
    probs = softmax(logits)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for k, name in enumerate(classes):
        positive = labels == k
        auc = roc_auc(probs[:, k], positive)
        if auc is None:
            continue
        fpr, tpr = roc_curve(probs[:, k], positive)
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.4f})")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="One-vs-rest ROC")
    ax.legend(loc="lower right")
    _save(fig, path)


def plot_reliability(
    path: Path, logits: np.ndarray, labels: np.ndarray, temperature: float, bins: int = 15
) -> None:
    fig, ax = plt.subplots(figsize=(5, 4.5))
    edges = np.linspace(0, 1, bins + 1)
    for t, name in ((1.0, "uncalibrated"), (temperature, f"T = {temperature:.2f}")):
        probs = softmax(logits, t)
        conf = probs.max(1)
        correct = probs.argmax(1) == labels
        xs, ys = [], []
        for lo, hi in pairwise(edges):
            mask = (conf > lo) & (conf <= hi)
            if mask.any():
                xs.append(conf[mask].mean())
                ys.append(correct[mask].mean())
        ax.plot(xs, ys, "o-", label=name)
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set(xlabel="confidence", ylabel="accuracy", title="Reliability (top label)")
    ax.legend()
    _save(fig, path)
