"""Train the paper's CNN: ``python -m ml train --data DIR --out DIR [--config paper|improved]``.

Images are decoded once into memory (on the GPU when there is one) and augmented there, so an epoch is
bounded by the model, not by image decoding. The same command runs under ``torchrun`` (DDP).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ml.classes import CLASSES
from ml.evaluation.evaluate import evaluate
from ml.evaluation.outputs import finalize_run, write_history
from ml.evaluation.sources import per_source
from ml.model import PaperCNN, build_model, load_weights, read_header
from ml.preprocessing import PreprocessSpec, standardize, train_augment
from ml.training.checkpoint import TrainState, is_checkpoint, load_checkpoint, save_checkpoint
from ml.training.config import TrainConfig
from ml.training.data import MonitorSet, TrainData, epoch_order, load_data, load_monitor
from ml.training.distributed import Dist, setup_distributed
from ml.training.optim import make_optimizer, set_learning_rate
from ml.training.shift_augment import ShiftAugmenter
from ml.training.style import MixStyle, histogram_match

logger = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def cpu_bf16_supported() -> bool:
    """Whether this CPU runs bfloat16 convolutions natively (oneDNN on AVX-512 BF16 or AMX)."""
    available = torch.backends.mkldnn.is_available()  # type: ignore[no-untyped-call]
    return bool(available and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def warm_start(model: PaperCNN, path: str) -> None:
    """Copy a weights file's or a checkpoint's tensors into ``model`` (same architecture), to start from."""
    if is_checkpoint(read_header(Path(path))):
        state = load_checkpoint(Path(path), model, None, None)
        logger.info("warm start from %s (epoch %d of its run)", path, state.epoch + 1)
        return
    loaded = load_weights(Path(path))
    model.load_state_dict(loaded.model.state_dict())
    logger.info("warm start from %s (version %s)", path, loaded.metadata.version)


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
    bf16: bool,
) -> dict[str, float]:
    model.train()
    set_learning_rate(optimizer, cfg, epoch)
    order = epoch_order(cfg, data.train_y, epoch, env).to(env.device)
    gen = torch.Generator(device=env.device).manual_seed(cfg.seed * 7919 + epoch * 31 + env.rank)
    mix = MixStyle(cfg.mixstyle, cfg.mixstyle_alpha, cfg.mixstyle_blocks, cfg.seed) if cfg.mixstyle else None
    if mix is not None:
        mix.reseed(cfg.seed * 7919 + env.rank, epoch)
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
        x = data.train_x[idx].float()
        if cfg.histogram_match > 0:
            # Standardised again, as serving would standardise an image that arrived with these intensities.
            x = standardize(histogram_match(x, cfg.histogram_match, gen), spec)
        x = train_augment(x, spec, gen, cfg.rotate_degrees, cfg.contrast)
        y = data.train_y[idx]
        if cuda or bf16:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(env.device.type, dtype=torch.bfloat16, enabled=cuda or bf16):
            logits = model(x, mix=mix)
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


def _monitor_row(
    model: nn.Module, monitor: MonitorSet, spec: PreprocessSpec, env: Dist, bf16: bool
) -> dict[str, float]:
    """Accuracy per source of the monitor set: logged for reading, never used to pick the epoch."""
    logits = evaluate(model, monitor.images, spec, env.device, bf16=bf16)
    results = per_source(logits, monitor.labels, monitor.sources)
    return {f"monitor_{source}": r["accuracy"] for source, r in results.items()}


def _log_epoch(row: dict[str, float], epochs: int) -> None:
    monitored = " ".join(f"{k[8:]} {v:.3f}" for k, v in row.items() if k.startswith("monitor_"))
    logger.info(
        "epoch %d/%d lr %.4g loss %.4f train %.4f val_loss %.4f val %.4f (%.1fs)%s",
        row["epoch"],
        epochs,
        row["lr"],
        row["train_loss"],
        row["train_accuracy"],
        row["val_loss"],
        row["val_accuracy"],
        row["seconds"],
        f"; monitor: {monitored}" if monitored else "",
    )


def main(
    cfg: TrainConfig,
    data_dir: Path,
    out: Path,
    device: str,
    resume: Path | None,
    monitor_dir: Path | None = None,
    cache: Path | None = None,
) -> Path | None:
    """Train, keep the best-on-validation weights, calibrate and write every output; returns the weights."""
    env = setup_distributed(device)
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed + env.rank)
    spec = PreprocessSpec(resize=cfg.resize, crop=cfg.crop, standardize=cfg.standardize)
    bf16 = env.device.type == "cpu" and cfg.cpu_bf16 and cpu_bf16_supported()
    if env.main:
        (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    data = load_data(cfg, data_dir, out, spec, env, cache)
    monitor = load_monitor(monitor_dir, spec, cache) if monitor_dir is not None and env.main else None
    model: PaperCNN = build_model(cfg.architecture, len(CLASSES)).to(env.device)
    if cfg.init_from:
        warm_start(model, cfg.init_from)
    if env.device.type == "cuda" or bf16:
        model = model.to(memory_format=torch.channels_last)
    ema = copy.deepcopy(model).eval() if cfg.ema_decay > 0 else None
    optimizer = make_optimizer(model, cfg)
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
        row.update(train_one_epoch(net, optimizer, epoch_data, cfg, spec, epoch, env, ema, bf16))
        del epoch_data
        logits = evaluate(judged, data.val_x, spec, env.device, bf16=bf16)
        labels = data.val_y.cpu().numpy()
        row["val_loss"] = float(F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels)))
        row["val_accuracy"] = float((logits.argmax(1) == labels).mean())
        if monitor is not None:
            row.update(_monitor_row(judged, monitor, spec, env, bf16))
        row["seconds"] = time.perf_counter() - start
        state.history.append(row)
        state.epoch = epoch
        if env.main:
            if row["val_accuracy"] > state.best_accuracy:
                state.best_accuracy = row["val_accuracy"]
                state.extra = {"best_epoch": epoch + 1}
                save_checkpoint(out / "best.ckpt.safetensors", judged, None, None, state)
            save_checkpoint(out / "checkpoint.ckpt.safetensors", model, optimizer, ema, state)
            write_history(out / "history.csv", state.history)
            _log_epoch(row, cfg.epochs)
    if augmenter is not None:
        augmenter.close()
    weights = None
    if env.main:
        load_checkpoint(out / "best.ckpt.safetensors", judged, None, None)
        judged = judged.to(memory_format=torch.contiguous_format)
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
