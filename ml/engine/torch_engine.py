"""The torch engine (CPU or CUDA), and torch modules as engine inputs. Needs the ``torch`` extra.

:class:`TorchEngine` runs the module itself, channels-last, Grad-CAM by autograd through the head
(:func:`ml.gradcam.predict_with_cam`); it takes and gives numpy arrays, as the ONNX Runtime engine does.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ml.engine.graph import Classifier, build_classifier
from ml.engine.names import EngineName
from ml.engine.output import EngineOutput
from ml.gradcam import predict_with_cam
from ml.model.cnn import PaperCNN, build_model
from ml.model.int8 import Int8Calibration
from ml.model.layout import classifier_layout


class TorchEngine:
    name = EngineName.TORCH

    def __init__(self, model: PaperCNN, device: str | torch.device) -> None:
        self.torch_device = torch.device(device)
        self.device = self.torch_device.type
        # Channels-last runs the convolutions about 1.2-1.5x faster on CPU (oneDNN) and on GPU alike.
        self.model = model.to(self.torch_device).eval().to(memory_format=torch.channels_last)

    @classmethod
    def of(cls, classifier: Classifier, device: str) -> TorchEngine:
        return cls(module_of(classifier), device)

    def predict(
        self, inputs: np.ndarray, *, with_cam: bool, with_taps: bool, targets: np.ndarray | None = None
    ) -> EngineOutput:
        x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32)).to(self.torch_device)
        x = x.contiguous(memory_format=torch.channels_last)
        chosen = torch.from_numpy(targets).to(self.torch_device) if targets is not None else None
        result = predict_with_cam(self.model, x, with_cam=with_cam, targets=chosen, with_taps=with_taps)
        return EngineOutput(
            logits=result.logits.cpu().numpy(),
            cams=result.cams.cpu().numpy() if result.cams is not None else None,
            targets=result.targets.cpu().numpy(),
            taps=[t.cpu().numpy() for t in result.taps],
        )


def module_of(classifier: Classifier) -> PaperCNN:
    model = build_model(classifier.architecture, num_classes=classifier.layout.head[-1].fout)
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in classifier.tensors.items()})
    return model.eval()


def classifier_of(model: PaperCNN, source_sha256: str) -> Classifier:
    """``model`` (in eval mode) as the numpy tensors an engine is built from."""
    if model.training:
        raise ValueError("export a model in eval mode: BatchNorm folds its running statistics")
    for layer in model.body:
        if not isinstance(layer, nn.Conv2d | nn.BatchNorm2d | nn.ReLU | nn.MaxPool2d):
            raise ValueError(f"no ONNX translation for {type(layer).__name__}")
    batch_norm = any(isinstance(layer, nn.BatchNorm2d) for layer in model.body)
    architecture = "paper_cnn_bn" if batch_norm else "paper_cnn"
    first = next(layer for layer in model.body if isinstance(layer, nn.Conv2d))
    layout = classifier_layout(architecture, model.fc2.out_features, first.in_channels)
    tensors = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    if {k: v.shape for k, v in tensors.items()} != layout.shapes():
        raise ValueError("the module's tensors are not those of the paper's CNN")
    return Classifier(architecture, layout, tensors, source_sha256)


def build_onnx(model: PaperCNN, source_sha256: str, int8: Int8Calibration | None = None) -> bytes:
    """The ONNX model of a torch module (:func:`ml.engine.graph.build_classifier`), for the int8 tools."""
    return build_classifier(classifier_of(model, source_sha256), int8)
