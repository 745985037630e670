"""Training configurations. ``paper`` is Lim & Lim's recipe; ``improved`` is v1's; ``robust`` adds the
robustness suite's shifts as augmentation (docs/robustness.md); ``v2`` is the shipped model's, a warm start
from v1 with style randomisation (docs/training.md)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class TrainConfig:
    preset: str = "paper"
    architecture: str = "paper_cnn"
    epochs: int = 100
    batch_size: int = 32
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "step"
    """``step`` (StepLR) or ``cosine``."""
    step_size: int = 40
    gamma: float = 0.1
    warmup_epochs: int = 0
    label_smoothing: float = 0.0
    rotate_degrees: float = 0.0
    contrast: float = 0.0
    ema_decay: float = 0.0
    """0 disables the exponential moving average of the weights."""
    balanced_sampling: bool = False
    resize: int = 256
    """The shorter side before the centre crop (recorded in the weights): 256 for a 224 crop keeps 87.5% of
    it, a larger value crops tighter to the lung fields, leaving out more of the borders, text and
    collimation."""
    crop: int = 224
    """The model's input size (recorded in the weights); smaller trains faster on a CPU."""
    standardize: str = "none"
    """Intensity standardisation (``none``, ``percentile``, ``equalize``), recorded in the weights."""
    shift_fraction: float = 0.0
    """Share of training images replaced each epoch by a shifted copy (:mod:`ml.robustness.shifts`)."""
    shift_names: str = ""
    """Comma-separated shifts to draw from; empty: all but ``invert`` (polarity is the decoder's job)."""
    histogram_match: float = 0.0
    """Share of training images given another training image's histogram (:mod:`ml.training.style`)."""
    mixstyle: float = 0.0
    """Chance, per batch and block, of MixStyle mixing (0 disables it; :mod:`ml.training.style`)."""
    mixstyle_alpha: float = 0.1
    mixstyle_blocks: int = 2
    """How many of the first blocks MixStyle mixes after."""
    early_lr_scale: float = 1.0
    """The first ``early_blocks`` blocks' learning rate as a share of ``lr`` (:mod:`ml.training.optim`)."""
    early_blocks: int = 2
    init_from: str = ""
    """A weights file to start from (a warm start); empty: random initialisation."""
    epoch_images: int = 0
    """Images drawn per epoch; 0: the whole training side once."""
    cpu_bf16: bool = True
    """On a CPU with native bfloat16 (AVX-512 BF16), train and validate each epoch in bfloat16 autocast
    (3.5x faster at 224 px on 2 cores); the final evaluation and temperature are always float32."""
    val_fraction: float = 0.15
    seed: int = 0
    limit: int = 0
    """0 uses every image; N takes a stratified subset of about N, for smoke runs."""

    def lr_at(self, epoch: int) -> float:
        """Learning rate for a (0-based) epoch; a pure function, so resuming needs no scheduler state."""
        if epoch < self.warmup_epochs:
            return self.lr * (epoch + 1) / (self.warmup_epochs + 1)
        if self.schedule == "cosine":
            span = max(1, self.epochs - self.warmup_epochs)
            progress = (epoch - self.warmup_epochs) / span
            return self.lr * 0.5 * (1 + math.cos(math.pi * progress))
        return self.lr * self.gamma ** (epoch // self.step_size)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def with_overrides(self, pairs: list[str]) -> TrainConfig:
        """Apply ``key=value`` strings, parsed with the field's type."""
        changes: dict[str, Any] = {}
        fields = {f.name: f for f in dataclasses.fields(self)}
        for pair in pairs:
            key, sep, raw = pair.partition("=")
            if not sep or key not in fields:
                raise ValueError(f"--set expects key=value with key in {sorted(fields)}, got {pair!r}")
            kind = type(getattr(self, key))
            if kind is bool:
                changes[key] = raw.lower() in ("1", "true", "yes", "on")
            else:
                changes[key] = kind(raw)
        return self.replace(**changes)


_IMPROVED = TrainConfig(
    preset="improved",
    architecture="paper_cnn_bn",
    epochs=60,
    lr=0.05,
    weight_decay=5e-4,
    schedule="cosine",
    warmup_epochs=2,
    label_smoothing=0.1,
    rotate_degrees=10.0,
    contrast=0.1,
    ema_decay=0.999,
)

PRESETS: dict[str, TrainConfig] = {
    "paper": TrainConfig(),
    "improved": _IMPROVED,
    "robust": _IMPROVED.replace(
        preset="robust", balanced_sampling=True, standardize="percentile", shift_fraction=0.5
    ),
}
