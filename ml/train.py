"""Train the paper's CNN: ``python -m ml train --data DIR --out DIR [--config paper|improved]``.

Images are decoded once into memory (on the GPU when there is one) and augmented there, so an epoch is
bounded by the model, not by image decoding. The same command runs under ``torchrun`` (DDP).
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import json
import logging
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ml.checkpoint import TrainState, load_checkpoint, save_checkpoint
from ml.classes import CLASSES
from ml.config import TrainConfig
from ml.data import decode_all, discover, split_by_group, stratified_limit, write_split
from ml.distributed import Dist, setup_distributed
from ml.evaluate import evaluate
from ml.model import PaperCNN, build_model
from ml.outputs import finalize_run
from ml.preprocessing import PreprocessSpec, train_augment
from ml.shift_augment import ShiftAugmenter

logger = logging.getLogger(__name__)


@dataclass
class TrainData:
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    manifest_sha256: str
    split_sha256: str


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_data(cfg: TrainConfig, data_dir: Path, out: Path, spec: PreprocessSpec, env: Dist) -> TrainData:
    """Find the images, split them by group, write the split, decode everything once onto the device."""
    dataset = discover(data_dir)
    samples = stratified_limit(dataset.samples, cfg.limit, cfg.seed) if cfg.limit else dataset.samples
    train, val = split_by_group(samples, cfg.val_fraction, cfg.seed)
    # Every rank draws the same split; only the main one writes it (the others never read it back).
    split_sha = write_split(out / "split.csv", dataset.root, train, val) if env.main else ""
    workers = min(16, os.cpu_count() or 1)
    start = time.perf_counter()
    train_x = decode_all(train, spec, workers).to(env.device)
    val_x = decode_all(val, spec, workers).to(env.device)
    logger.info(
        "decoded %d train + %d val images in %.1f s", len(train), len(val), time.perf_counter() - start
    )
    train_y = torch.tensor([s.label for s in train], device=env.device)
    val_y = torch.tensor([s.label for s in val], device=env.device)
    return TrainData(train_x, train_y, val_x, val_y, dataset.manifest_sha256, split_sha)


def _epoch_order(cfg: TrainConfig, labels: torch.Tensor, epoch: int, env: Dist) -> torch.Tensor:
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
    n = len(labels)
    if cfg.balanced_sampling:
        counts = torch.bincount(labels.cpu(), minlength=len(CLASSES)).float()
        weights = (1.0 / counts)[labels.cpu()]
        order = torch.multinomial(weights, n, replacement=True, generator=gen)
    else:
        order = torch.randperm(n, generator=gen)
    # Every rank must take the same number of steps, or DDP waits forever on the last one.
    order = order[: n - n % env.world]
    return order[env.rank :: env.world]


def _update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    # One fused kernel per tensor list, not one per parameter: this runs after every step.
    with torch.no_grad():
        torch._foreach_lerp_(list(ema.parameters()), [p.detach() for p in model.parameters()], 1 - decay)
        torch._foreach_copy_(list(ema.buffers()), list(model.buffers()))


def train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: TrainData,
    cfg: TrainConfig,
    spec: PreprocessSpec,
    epoch: int,
    env: Dist,
    ema: nn.Module | None,
) -> dict[str, float]:
    model.train()
    for group in optimizer.param_groups:
        group["lr"] = cfg.lr_at(epoch)
    order = _epoch_order(cfg, data.train_y, epoch, env).to(env.device)
    gen = torch.Generator(device=env.device).manual_seed(cfg.seed * 7919 + epoch * 31 + env.rank)
    cuda = env.device.type == "cuda"
    total_loss = torch.zeros((), device=env.device)
    correct = torch.zeros((), device=env.device)
    steps = (
        range(0, len(order) - cfg.batch_size + 1, cfg.batch_size)
        if len(order) >= cfg.batch_size
        else range(0, len(order), cfg.batch_size)
    )
    for start in _progress(steps, f"epoch {epoch + 1}/{cfg.epochs}", env):
        idx = order[start : start + cfg.batch_size]
        x = train_augment(data.train_x[idx].float(), spec, gen, cfg.rotate_degrees, cfg.contrast)
        y = data.train_y[idx]
        if cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(env.device.type, dtype=torch.bfloat16, enabled=cuda):
            logits = model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        if ema is not None:
            _update_ema(
                ema,
                model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model,
                cfg.ema_decay,
            )
        total_loss += loss.detach() * len(y)
        correct += (logits.argmax(1) == y).sum()
    seen = max(1, len(steps) * cfg.batch_size)
    return {"train_loss": float(total_loss) / seen, "train_accuracy": float(correct) / seen}


def _progress(steps: range, desc: str, env: Dist) -> range:
    if env.main and sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(steps, desc=desc, leave=False)  # type: ignore[no-any-return]
    return steps


def _write_history(path: Path, history: list[dict[str, float]]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)


def main(cfg: TrainConfig, data_dir: Path, out: Path, device: str, resume: Path | None) -> Path | None:
    """Train, keep the best-on-validation weights, calibrate and write every output; returns the weights."""
    env = setup_distributed(device)
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed + env.rank)
    spec = PreprocessSpec(standardize=cfg.standardize)
    if env.main:
        (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    data = load_data(cfg, data_dir, out, spec, env)
    model: PaperCNN = build_model(cfg.architecture, len(CLASSES)).to(env.device)
    if env.device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    ema = copy.deepcopy(model).eval() if cfg.ema_decay > 0 else None
    optimizer = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )
    state = TrainState(epoch=-1, best_accuracy=-1.0, history=[], config=cfg.to_dict())
    if resume is not None:
        state = load_checkpoint(resume, model, optimizer, ema)
        logger.info("resumed from %s at epoch %d", resume, state.epoch + 1)
    net: nn.Module = model
    if env.world > 1:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[env.device.index] if env.device.index is not None else None
        )
    judged = ema if ema is not None else model
    augmenter = None
    if cfg.shift_fraction > 0:
        workers = max(1, min(16, os.cpu_count() or 1) // env.world)
        augmenter = ShiftAugmenter(data.train_x, cfg, spec, workers)
    for epoch in range(state.epoch + 1, cfg.epochs):
        start = time.perf_counter()
        row: dict[str, float] = {"epoch": epoch + 1, "lr": cfg.lr_at(epoch)}
        epoch_data = data
        if augmenter is not None:
            epoch_data = dataclasses.replace(data, train_x=augmenter.epoch_images(data.train_x, epoch))
            if epoch + 1 < cfg.epochs:
                augmenter.prepare(epoch + 1)
        row.update(train_one_epoch(net, optimizer, epoch_data, cfg, spec, epoch, env, ema))
        del epoch_data
        logits = evaluate(judged, data.val_x, spec, env.device)
        labels = data.val_y.cpu().numpy()
        row["val_loss"] = float(F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels)))
        row["val_accuracy"] = float((logits.argmax(1) == labels).mean())
        row["seconds"] = time.perf_counter() - start
        state.history.append(row)
        state.epoch = epoch
        if env.main:
            if row["val_accuracy"] > state.best_accuracy:
                state.best_accuracy = row["val_accuracy"]
                state.extra = {"best_epoch": epoch + 1}
                save_checkpoint(out / "best.ckpt.safetensors", judged, None, None, state)
            save_checkpoint(out / "checkpoint.ckpt.safetensors", model, optimizer, ema, state)
            _write_history(out / "history.csv", state.history)
            logger.info(
                "epoch %d/%d lr %.4g loss %.4f train %.4f val_loss %.4f val %.4f (%.1fs)",
                epoch + 1,
                cfg.epochs,
                row["lr"],
                row["train_loss"],
                row["train_accuracy"],
                row["val_loss"],
                row["val_accuracy"],
                row["seconds"],
            )
    if augmenter is not None:
        augmenter.close()
    weights = None
    if env.main:
        load_checkpoint(out / "best.ckpt.safetensors", judged, None, None)
        val_logits = evaluate(judged, data.val_x, spec, env.device)
        weights = finalize_run(
            out,
            judged,
            cfg,
            spec,
            val_logits,
            data.val_y.cpu().numpy(),
            state.history,
            data.manifest_sha256,
            data.split_sha256,
        )
    env.close()
    return weights
