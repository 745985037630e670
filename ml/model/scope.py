"""A small classifier that tells a frontal chest X-ray from everything else the service might be sent.

It sees the whole image, squashed to ``SCOPE_SIZE`` squared (the classifier's centre crop would hide a
rotated or lateral film's outline), and answers one of :data:`SCOPE_CLASSES`. It is trained by
``ml.gate`` on the database's X-rays against negatives built at training time (see the model card).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ml.model.layout import SCOPE_CLASSES, SCOPE_SIZE, SCOPE_WIDTHS

__all__ = ["SCOPE_CLASSES", "SCOPE_SIZE", "SCOPE_WIDTHS", "ScopeNet", "scope_input"]


def scope_input(pixels: torch.Tensor, size: int = SCOPE_SIZE) -> torch.Tensor:
    """One grayscale image ``[H, W]`` in [0, 1] -> the scope classifier's input ``[1, size, size]``.

    The reference; the service makes it with :func:`ml.preprocessing_np.scope_input`."""
    x = pixels[None, None].float()
    if tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return ((x - 0.5) / 0.5)[0]


class ScopeNet(nn.Module):
    """Five 3x3 convolutions with BatchNorm, ReLU and 2x2 max-pooling, global average pooling, linear."""

    def __init__(self, widths: tuple[int, ...] = SCOPE_WIDTHS, num_classes: int = len(SCOPE_CLASSES)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 1
        for width in widths:
            layers += [
                nn.Conv2d(cin, width, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            cin = width
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc(self.body(x).mean(dim=(2, 3)))
        return out
