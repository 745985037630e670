"""Resumable training checkpoints as safetensors: weights, optimizer momentum, EMA and progress.

A checkpoint is read from a user-given path (``--resume``), so it is never a pickle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ml.model import read_header

CHECKPOINT_FORMAT = "cxr-checkpoint/1"
"""The ``format`` a checkpoint's header names; weights files have none."""


@dataclass
class TrainState:
    epoch: int
    """The last completed epoch (0-based)."""
    best_accuracy: float
    history: list[dict[str, float]]
    config: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


def _momentum_tensors(optimizer: torch.optim.Optimizer, names: dict[int, str]) -> dict[str, torch.Tensor]:
    out = {}
    for group in optimizer.param_groups:
        for param in group["params"]:
            buf = optimizer.state.get(param, {}).get("momentum_buffer")
            if buf is not None:
                out[f"optim.{names[id(param)]}"] = buf.detach().cpu().contiguous()
    return out


def save_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None,
    ema: torch.nn.Module | None,
    state: TrainState,
) -> None:
    names = {id(p): n for n, p in model.named_parameters()}
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if optimizer is not None:
        tensors.update(_momentum_tensors(optimizer, names))
    if ema is not None:
        tensors.update({f"ema.{k}": v.detach().cpu().contiguous() for k, v in ema.state_dict().items()})
    meta = {
        "format": CHECKPOINT_FORMAT,
        "epoch": str(state.epoch),
        "best_accuracy": repr(state.best_accuracy),
        "history": json.dumps(state.history),
        "config": json.dumps(state.config),
        "extra": json.dumps(state.extra),
    }
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)


def is_checkpoint(header: dict[str, str]) -> bool:
    """Whether a safetensors header (:func:`ml.model.read_header`) is a training checkpoint's."""
    return header.get("format") == CHECKPOINT_FORMAT


def load_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None,
    ema: torch.nn.Module | None,
) -> TrainState:
    """Restore ``model``/``optimizer``/``ema`` in place from ``path``; returns the saved progress."""
    meta = read_header(Path(path))
    if not is_checkpoint(meta):
        raise ValueError(f"{path} is not a training checkpoint")
    tensors = load_file(str(path))
    device = next(model.parameters()).device
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    if ema is not None and any(k.startswith("ema.") for k in tensors):
        ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
    if optimizer is not None:
        params = dict(model.named_parameters())
        for name, param in params.items():
            buf = tensors.get(f"optim.{name}")
            if buf is not None:
                optimizer.state[param]["momentum_buffer"] = buf.to(device)
    return TrainState(
        epoch=int(meta["epoch"]),
        best_accuracy=float(meta["best_accuracy"]),
        history=json.loads(meta["history"]),
        config=json.loads(meta["config"]),
        extra=json.loads(meta.get("extra", "{}")),
    )
