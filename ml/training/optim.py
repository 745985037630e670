"""The optimizer: SGD with momentum, the first blocks optionally at a lower learning rate.

A warm start keeps what v1's early blocks learned about edges and textures at ``early_lr_scale`` of the
rate, while the later blocks and the head move at the full rate: the early features carry most of a
source's look (contrast, noise, processing), the later ones the anatomy that should decide the label.
"""

from __future__ import annotations

import torch
from torch import nn

from ml.model.cnn import PaperCNN
from ml.training.config import TrainConfig


def early_parameters(model: PaperCNN, blocks: int) -> list[nn.Parameter]:
    """The parameters of the first ``blocks`` convolutional blocks (blocks end at each max-pooling)."""
    params: list[nn.Parameter] = []
    block = 0
    for layer in model.body:
        if isinstance(layer, nn.MaxPool2d):
            block += 1
        if block >= blocks:
            break
        params += list(layer.parameters())
    return params


def make_optimizer(model: PaperCNN, cfg: TrainConfig) -> torch.optim.SGD:
    early = early_parameters(model, cfg.early_blocks) if cfg.early_lr_scale != 1.0 else []
    early_ids = {id(p) for p in early}
    rest = [p for p in model.parameters() if id(p) not in early_ids]
    groups: list[dict[str, object]] = [{"params": rest, "lr_scale": 1.0}]
    if early:
        groups.append({"params": early, "lr_scale": cfg.early_lr_scale})
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def set_learning_rate(optimizer: torch.optim.Optimizer, cfg: TrainConfig, epoch: int) -> None:
    for group in optimizer.param_groups:
        group["lr"] = cfg.lr_at(epoch) * float(group.get("lr_scale", 1.0))
