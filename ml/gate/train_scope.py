"""Train the scope classifier: a few minutes on two CPU cores, deterministic for a seed."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from ml.gate.data import ScopeSet
from ml.model.scope import SCOPE_CLASSES, ScopeNet

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScopeTrainConfig:
    epochs: int = 4
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    per_maker: int = 1500
    """Examples of each negative kind; frontal X-rays get three times as many."""

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Left-right flips only: every other transformation would change what the label means."""
    flip = torch.rand(len(batch), generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], batch.flip(-1), batch)


def train_scope(data: ScopeSet, cfg: ScopeTrainConfig) -> ScopeNet:
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    model = ScopeNet()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    counts = torch.bincount(data.labels, minlength=len(SCOPE_CLASSES)).float()
    # Each scope class weighs alike in the loss, whatever its number of examples.
    weights = (counts.sum() / counts.clamp_min(1) / len(SCOPE_CLASSES)).float()
    steps_per_epoch = max(1, len(data.labels) // cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    step = 0
    for epoch in range(cfg.epochs):
        model.train()
        order = torch.randperm(len(data.labels), generator=generator)
        started, loss_sum, correct = time.perf_counter(), 0.0, 0
        for i in range(steps_per_epoch):
            idx = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            x = _augment(data.inputs[idx].float(), generator)
            y = data.labels[idx]
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * step / total))
            logits = model(x)
            loss = F.cross_entropy(logits, y, weight=weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            step += 1
            loss_sum += float(loss.detach()) * len(y)
            correct += int((logits.argmax(1) == y).sum())
        seen = steps_per_epoch * cfg.batch_size
        logger.info(
            "scope epoch %d/%d loss %.4f accuracy %.4f (%.0f s)",
            epoch + 1,
            cfg.epochs,
            loss_sum / seen,
            correct / seen,
            time.perf_counter() - started,
        )
    return model.eval()


@torch.no_grad()
def scope_probabilities(model: ScopeNet, inputs: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """``[N, len(SCOPE_CLASSES)]`` probabilities for ``[N, 1, s, s]`` inputs."""
    model.eval()
    parts = [
        torch.softmax(model(inputs[i : i + batch_size].float()), dim=1)
        for i in range(0, len(inputs), batch_size)
    ]
    return torch.cat(parts) if parts else torch.zeros(0, len(SCOPE_CLASSES))
