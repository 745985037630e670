"""The paper's CNN (Lim & Lim) and a registry of its variants.

Four blocks of two 3x3 convolutions with ReLU (32, 64, 128, 256 filters), 2x2 max-pooling between blocks,
global average pooling, Linear 256->10, ReLU, Linear 10->3: 1,174,859 trainable parameters.

The network is split into :meth:`PaperCNN.features` (up to the last block's ReLU) and
:meth:`PaperCNN.head` so that Grad-CAM can differentiate through the head alone.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

WIDTHS: tuple[int, ...] = (32, 64, 128, 256)

BlockMix = Callable[[torch.Tensor, int], torch.Tensor]
"""``(a block's output, the block's index) -> the output to go on with``: a training-time perturbation."""


def _block(cin: int, cout: int, batch_norm: bool) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for c_in in (cin, cout):
        layers.append(nn.Conv2d(c_in, cout, kernel_size=3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(cout))
        layers.append(nn.ReLU(inplace=True))
    return layers


class PaperCNN(nn.Module):
    def __init__(
        self,
        num_classes: int = 3,
        in_channels: int = 3,
        batch_norm: bool = False,
        widths: tuple[int, ...] = WIDTHS,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for i, width in enumerate(widths):
            if i > 0:
                layers.append(nn.MaxPool2d(2))
            layers += _block(cin, width, batch_norm)
            cin = width
        self.body = nn.Sequential(*layers)
        self.blocks = len(widths)
        """Convolutional blocks, and so the feature taps :meth:`features` gives."""
        self.fc1 = nn.Linear(cin, 10)
        self.fc2 = nn.Linear(10, num_classes)

    def features(
        self, x: torch.Tensor, taps: list[torch.Tensor] | None = None, mix: BlockMix | None = None
    ) -> torch.Tensor:
        """The last convolutional block's output, after its ReLU: ``[N, 256, H/8, W/8]``.

        With ``taps``, each block's output is appended to it, spatially averaged (``[N, width]``, float32),
        for the input assessment's feature-space distance; the last one is the head's pooled input.
        With ``mix`` (training only), each block's output but the last is replaced by ``mix(output, block)``
        before the pooling (:class:`ml.training.style.MixStyle`).
        """
        if taps is None and mix is None:
            out: torch.Tensor = self.body(x)
            return out
        block = 0
        for layer in self.body:
            if isinstance(layer, nn.MaxPool2d):
                if taps is not None:
                    taps.append(x.mean(dim=(2, 3)).float())
                if mix is not None:
                    x = mix(x, block)
                block += 1
            x = layer(x)
        if taps is not None:
            taps.append(x.mean(dim=(2, 3)).float())
        return x

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """Global average pooling and the two linear layers: features -> logits."""
        pooled = features.mean(dim=(2, 3))
        out: torch.Tensor = self.fc2(torch.relu(self.fc1(pooled)))
        return out

    def forward(self, x: torch.Tensor, mix: BlockMix | None = None) -> torch.Tensor:
        return self.head(self.features(x, mix=mix))


ModelFactory = Callable[[int], PaperCNN]

MODELS: dict[str, ModelFactory] = {
    "paper_cnn": lambda num_classes: PaperCNN(num_classes),
    "paper_cnn_bn": lambda num_classes: PaperCNN(num_classes, batch_norm=True),
}
"""Architecture name -> factory. Add a variant here; callers use :func:`build_model` only."""


def build_model(name: str, num_classes: int = 3) -> PaperCNN:
    try:
        factory = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(sorted(MODELS))}") from None
    return factory(num_classes)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
