"""The engines: ONNX Runtime against torch on random weights, and Grad-CAM in closed form against autograd."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from ml.engine import EngineError, OnnxRuntimeEngine, TorchEngine, resolve_engine, runtime
from ml.engine import graph as onnx_graph
from ml.gradcam import head_cams, predict_with_cam
from ml.model import PaperCNN, build_model
from tests.support.weights import random_model

CPU = torch.device("cpu")
SHA = "ab" * 32


def random_bn_model(seed: int) -> PaperCNN:
    """The BatchNorm variant with running statistics and affine terms far from their initial values."""
    torch.manual_seed(seed)
    model = build_model("paper_cnn_bn")
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        if isinstance(module, torch.nn.BatchNorm2d):
            channels = module.num_features
            assert module.running_mean is not None and module.running_var is not None
            module.running_mean.copy_(torch.randn(channels) * 0.3)
            module.running_var.copy_(torch.rand(channels) + 0.5)
            module.weight.data.copy_(torch.rand(channels) + 0.5)
            module.bias.data.copy_(torch.randn(channels) * 0.1)
    return model.eval()


def inputs(batch: int = 3, side: int = 48, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, side, side, generator=generator)


@pytest.mark.parametrize("make", [random_model, random_bn_model], ids=["plain", "batch-norm-folded"])
def test_onnxruntime_gives_the_logits_taps_and_maps_torch_gives(make: Callable[[int], PaperCNN]) -> None:
    model = make(3)
    x = inputs()
    reference = predict_with_cam(model, x, with_taps=True)

    result = OnnxRuntimeEngine(model, SHA, threads=1).predict(x, with_cam=True, with_taps=True)

    scale = float(reference.logits.abs().max())
    torch.testing.assert_close(result.logits, reference.logits, rtol=1e-4, atol=1e-4 * scale)
    assert torch.equal(result.targets, reference.targets)
    assert len(result.taps) == len(reference.taps) == 4
    for ours, theirs in zip(result.taps, reference.taps, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4 * float(theirs.abs().max()))
    assert result.cams is not None and reference.cams is not None
    torch.testing.assert_close(result.cams, reference.cams, rtol=0, atol=1e-4)


def test_closed_form_gradcam_equals_autograd_for_every_class() -> None:
    model = random_model(5).double()
    x = inputs(batch=4, side=40, seed=1).double()
    with torch.no_grad():
        features = model.features(x)
        hidden = model.fc1(features.mean(dim=(2, 3)))
    assert bool((hidden > 0).any()) and bool((hidden <= 0).any()), "the ReLU mask is not exercised"

    for target in range(3):
        targets = torch.full((4,), target)
        expected = predict_with_cam(model, x, targets=targets).cams
        cams = head_cams(features, hidden, model.fc1.weight.detach(), model.fc2.weight.detach(), targets)
        assert expected is not None
        torch.testing.assert_close(cams, expected, rtol=0, atol=1e-12)


def test_onnxruntime_explains_a_given_class_and_skips_what_is_not_asked_for() -> None:
    model = random_model(2)
    x = inputs(batch=2)
    engine = OnnxRuntimeEngine(model, SHA, threads=1)
    targets = torch.tensor([2, 1])

    explained = engine.predict(x, with_cam=True, with_taps=False, targets=targets)
    plain = engine.predict(x, with_cam=False, with_taps=False)

    expected = predict_with_cam(model, x, targets=targets).cams
    assert expected is not None and explained.cams is not None
    torch.testing.assert_close(explained.cams, expected, rtol=0, atol=1e-4)
    assert torch.equal(explained.targets, targets)
    assert plain.cams is None and plain.taps == [] and explained.taps == []


def test_the_torch_engine_is_predict_with_cam_on_a_channels_last_model() -> None:
    model = random_model(4)
    x = inputs(batch=2)
    expected = predict_with_cam(model, x, with_taps=True)

    result = TorchEngine(model, CPU).predict(x, with_cam=True, with_taps=True)

    torch.testing.assert_close(result.logits, expected.logits)
    assert result.cams is not None and expected.cams is not None
    torch.testing.assert_close(result.cams, expected.cams)


def test_the_graph_records_the_hash_of_the_weights_it_was_built_from() -> None:
    model = random_model(0)
    assert OnnxRuntimeEngine(model, SHA, threads=1).session.get_modelmeta().custom_metadata_map == {
        onnx_graph.SOURCE_KEY: SHA
    }


def test_a_model_in_training_mode_or_with_an_unknown_layer_is_not_exported() -> None:
    model = random_model(0)
    with pytest.raises(ValueError, match="eval mode"):
        onnx_graph.build_onnx(model.train(), SHA)
    model.eval().body.append(torch.nn.Sigmoid())
    with pytest.raises(ValueError, match="Sigmoid"):
        onnx_graph.build_onnx(model, SHA)


def test_auto_takes_onnxruntime_on_the_cpu_and_torch_on_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    cuda = torch.device("cuda")
    assert resolve_engine("auto", CPU) == "onnxruntime"
    assert resolve_engine("auto", cuda) == "torch"
    assert resolve_engine("torch", CPU) == "torch"
    with pytest.raises(EngineError, match="CPU only"):
        resolve_engine("onnxruntime", cuda)
    with pytest.raises(EngineError, match="not one of"):
        resolve_engine("tensorrt", CPU)

    monkeypatch.setattr(runtime, "onnxruntime_installed", lambda: False)
    assert resolve_engine("auto", CPU) == "torch"
    with pytest.raises(EngineError, match="not installed"):
        resolve_engine("onnxruntime", CPU)
