"""The networks' layer sequences and tensor shapes, without torch: what the ONNX graphs are written from.

:mod:`ml.model.cnn` and :mod:`ml.model.scope` define the networks as torch modules (for training); these
layouts name the same layers, in the same order and with the same state-dict keys, so that the service can
check a weights file and build its ONNX graphs from the file's tensors alone. ``tests/ml/test_layout.py``
holds them to the modules' state dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

WIDTHS: Final[tuple[int, ...]] = (32, 64, 128, 256)
HIDDEN: Final = 10
BATCH_NORM: Final[dict[str, bool]] = {"paper_cnn": False, "paper_cnn_bn": True}
"""The classifier's architectures (:data:`ml.model.cnn.MODELS`) and whether each has BatchNorm."""
BN_EPS: Final = 1e-5
"""torch's BatchNorm2d default, which both networks use."""

SCOPE_CLASSES: Final[tuple[str, ...]] = ("frontal_chest_xray", "inverted", "rotated", "other")
"""The scope classifier's outputs. Index 0 is in scope; the others name why an image is not."""
SCOPE_SIZE: Final = 96
SCOPE_WIDTHS: Final[tuple[int, ...]] = (16, 24, 48, 64, 96)


@dataclass(frozen=True)
class Conv:
    """A 3x3 convolution, padding 1, stride 1; ``norm``: the BatchNorm after it (folded into it)."""

    name: str
    cin: int
    cout: int
    bias: bool
    norm: str | None


@dataclass(frozen=True)
class Relu:
    pass


@dataclass(frozen=True)
class Pool:
    """2x2 max-pooling, stride 2."""


@dataclass(frozen=True)
class Linear:
    name: str
    fin: int
    fout: int


Layer = Conv | Relu | Pool


@dataclass(frozen=True)
class Layout:
    body: tuple[Layer, ...]
    """Then a global average pooling and ``head``."""
    head: tuple[Linear, ...]
    """Linear layers with a ReLU between each two."""

    @property
    def in_channels(self) -> int:
        return next(layer.cin for layer in self.body if isinstance(layer, Conv))

    @property
    def blocks(self) -> int:
        """Runs of convolutions between poolings: :attr:`ml.model.cnn.PaperCNN.blocks` for the classifier,
        and so its feature taps."""
        pools = sum(isinstance(layer, Pool) for layer in self.body)
        return pools + (not isinstance(self.body[-1], Pool))

    @property
    def convs(self) -> list[Conv]:
        return [layer for layer in self.body if isinstance(layer, Conv)]

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Every tensor of the state dict with its shape."""
        out: dict[str, tuple[int, ...]] = {}
        for conv in self.convs:
            out[f"{conv.name}.weight"] = (conv.cout, conv.cin, 3, 3)
            if conv.bias:
                out[f"{conv.name}.bias"] = (conv.cout,)
            if conv.norm is not None:
                for stat in ("weight", "bias", "running_mean", "running_var"):
                    out[f"{conv.norm}.{stat}"] = (conv.cout,)
                out[f"{conv.norm}.num_batches_tracked"] = ()
        for linear in self.head:
            out[f"{linear.name}.weight"] = (linear.fout, linear.fin)
            out[f"{linear.name}.bias"] = (linear.fout,)
        return out


def _block(layers: list[Layer], index: int, cin: int, cout: int, batch_norm: bool) -> int:
    """Two convolutions (with BatchNorm) and ReLUs, as ``ml.model.cnn._block``; returns the next index."""
    for c_in in (cin, cout):
        norm = f"body.{index + 1}" if batch_norm else None
        layers.append(Conv(f"body.{index}", c_in, cout, bias=not batch_norm, norm=norm))
        index += 2 if batch_norm else 1
        layers.append(Relu())
        index += 1
    return index


def classifier_layout(architecture: str, num_classes: int, in_channels: int = 3) -> Layout:
    """:class:`ml.model.cnn.PaperCNN` as built by :func:`ml.model.cnn.build_model`."""
    try:
        batch_norm = BATCH_NORM[architecture]
    except KeyError:
        raise ValueError(f"unknown architecture {architecture!r}; known: {', '.join(BATCH_NORM)}") from None
    layers: list[Layer] = []
    index, cin = 0, in_channels
    for i, width in enumerate(WIDTHS):
        if i > 0:
            layers.append(Pool())
            index += 1
        index = _block(layers, index, cin, width, batch_norm)
        cin = width
    head = (Linear("fc1", cin, HIDDEN), Linear("fc2", HIDDEN, num_classes))
    return Layout(tuple(layers), head)


def scope_layout(widths: tuple[int, ...] = SCOPE_WIDTHS, num_classes: int = len(SCOPE_CLASSES)) -> Layout:
    """:class:`ml.model.scope.ScopeNet`: convolution, BatchNorm, ReLU and pooling per width, then ``fc``."""
    layers: list[Layer] = []
    cin = 1
    for i, width in enumerate(widths):
        layers += [Conv(f"body.{4 * i}", cin, width, bias=False, norm=f"body.{4 * i + 1}"), Relu(), Pool()]
        cin = width
    return Layout(tuple(layers), (Linear("fc", cin, num_classes),))
