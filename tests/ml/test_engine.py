"""The engines: ONNX Runtime (graphs written from numpy tensors) against torch on random weights, Grad-CAM
in closed form against autograd, and the service's numpy gate against the torch one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.engine import EngineError, EngineName, OnnxRuntimeEngine, resolve_engine, select
from ml.engine import graph as onnx_graph
from ml.engine.gate import ServingGate
from ml.engine.output import head_cams
from ml.engine.torch_engine import TorchEngine, build_onnx, classifier_of
from ml.gradcam import head_cams as torch_head_cams
from ml.gradcam import predict_with_cam
from ml.model import PaperCNN, build_model, load_weights
from ml.model.checks import ImageFacts
from ml.model.weights_file import read_weights
from tests.support.gate import random_gate
from tests.support.weights import random_model, write_random_weights

CPU = "cpu"
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


def close(ours: np.ndarray, theirs: torch.Tensor, rtol: float = 1e-4, atol: float = 1e-4) -> None:
    torch.testing.assert_close(torch.from_numpy(np.asarray(ours)), theirs, rtol=rtol, atol=atol)


@pytest.mark.parametrize("make", [random_model, random_bn_model], ids=["plain", "batch-norm-folded"])
def test_onnxruntime_gives_the_logits_taps_and_maps_torch_gives(make: Callable[[int], PaperCNN]) -> None:
    model = make(3)
    x = inputs()
    reference = predict_with_cam(model, x, with_taps=True)

    result = OnnxRuntimeEngine(classifier_of(model, SHA), threads=1).predict(
        x.numpy(), with_cam=True, with_taps=True
    )

    close(result.logits, reference.logits, atol=1e-4 * float(reference.logits.abs().max()))
    assert np.array_equal(result.targets, reference.targets.numpy())
    assert len(result.taps) == len(reference.taps) == 4
    for ours, theirs in zip(result.taps, reference.taps, strict=True):
        close(ours, theirs, atol=1e-4 * float(theirs.abs().max()))
    assert result.cams is not None and reference.cams is not None
    close(result.cams, reference.cams, rtol=0, atol=1e-4)


def test_closed_form_gradcam_equals_autograd_for_every_class_in_torch_and_numpy() -> None:
    model = random_model(5).double()
    x = inputs(batch=4, side=40, seed=1).double()
    with torch.no_grad():
        features = model.features(x)
        hidden = model.fc1(features.mean(dim=(2, 3)))
    assert bool((hidden > 0).any()) and bool((hidden <= 0).any()), "the ReLU mask is not exercised"
    fc1, fc2 = model.fc1.weight.detach(), model.fc2.weight.detach()

    for target in range(3):
        targets = torch.full((4,), target)
        expected = predict_with_cam(model, x, targets=targets).cams
        assert expected is not None
        torch.testing.assert_close(
            torch_head_cams(features, hidden, fc1, fc2, targets), expected, rtol=0, atol=1e-12
        )
        cams = head_cams(features.numpy(), hidden.numpy(), fc1.numpy(), fc2.numpy(), targets.numpy())
        close(cams, expected.float(), rtol=0, atol=1e-6)


def test_onnxruntime_explains_a_given_class_and_skips_what_is_not_asked_for() -> None:
    model = random_model(2)
    x = inputs(batch=2)
    engine = OnnxRuntimeEngine(classifier_of(model, SHA), threads=1)
    targets = np.array([2, 1])

    explained = engine.predict(x.numpy(), with_cam=True, with_taps=False, targets=targets)
    plain = engine.predict(x.numpy(), with_cam=False, with_taps=False)

    expected = predict_with_cam(model, x, targets=torch.from_numpy(targets)).cams
    assert expected is not None and explained.cams is not None
    close(explained.cams, expected, rtol=0, atol=1e-4)
    assert np.array_equal(explained.targets, targets)
    assert plain.cams is None and plain.taps == [] and explained.taps == []


def test_the_torch_engine_is_predict_with_cam_on_a_channels_last_model_in_numpy() -> None:
    model = random_model(4)
    x = inputs(batch=2)
    expected = predict_with_cam(model, x, with_taps=True)

    result = TorchEngine(model, CPU).predict(x.numpy(), with_cam=True, with_taps=True)

    close(result.logits, expected.logits, rtol=1e-5, atol=1e-5)
    assert result.cams is not None and expected.cams is not None
    close(result.cams, expected.cams, rtol=1e-5, atol=1e-5)


def test_the_graph_records_the_hash_of_the_weights_it_was_built_from() -> None:
    classifier = classifier_of(random_model(0), SHA)
    assert OnnxRuntimeEngine(classifier, threads=1).session.get_modelmeta().custom_metadata_map == {
        onnx_graph.SOURCE_KEY: SHA
    }


def test_a_model_in_training_mode_or_with_an_unknown_layer_is_not_exported() -> None:
    model = random_model(0)
    with pytest.raises(ValueError, match="eval mode"):
        build_onnx(model.train(), SHA)
    model.eval().body.append(torch.nn.Sigmoid())
    with pytest.raises(ValueError, match="Sigmoid"):
        build_onnx(model, SHA)


def test_auto_takes_onnxruntime_on_the_cpu_and_torch_on_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_engine("auto", CPU) == EngineName.ONNXRUNTIME
    assert resolve_engine("auto", "cuda") == EngineName.TORCH
    assert resolve_engine("torch", CPU) == EngineName.TORCH
    with pytest.raises(EngineError, match="CPU only"):
        resolve_engine("onnxruntime", "cuda")
    with pytest.raises(EngineError, match="not one of"):
        resolve_engine("tensorrt", CPU)

    monkeypatch.setattr(select, "onnxruntime_installed", lambda: False)
    assert resolve_engine("auto", CPU) == EngineName.TORCH
    with pytest.raises(EngineError, match="not installed"):
        resolve_engine("onnxruntime", CPU)


def test_without_torch_the_torch_engine_is_refused_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(select, "torch_installed", lambda: False)

    assert resolve_engine("auto", CPU) == EngineName.ONNXRUNTIME
    with pytest.raises(EngineError, match=r"pip install 'cxr-service\[torch\]'"):
        resolve_engine("torch", CPU)
    monkeypatch.setattr(select, "onnxruntime_installed", lambda: False)
    with pytest.raises(EngineError, match=r"cxr-service\[torch\]"):
        resolve_engine("auto", CPU)


def test_the_numpy_gate_gives_the_torch_gates_signals_and_verdicts(tmp_path: Path) -> None:
    path = write_random_weights(tmp_path / "w.safetensors", gate=random_gate(seed=3))
    reference = load_weights(path)
    assert reference.gate is not None
    read = read_weights(path)
    assert read.gate is not None
    gate = ServingGate(read.gate, read.gate_tensors, read.sha256)
    generator = torch.Generator().manual_seed(2)
    scope_inputs = torch.rand(5, 1, 96, 96, generator=generator) * 2 - 1
    taps = predict_with_cam(reference.model, inputs(batch=5, side=64), with_taps=True).taps

    expected = reference.gate.signals(scope_inputs, taps)
    signals = gate.signals(scope_inputs.numpy(), [t.numpy() for t in taps])

    close(signals.chest_xray.astype(np.float32), expected.chest_xray, rtol=1e-5, atol=1e-6)
    close(signals.distance, expected.distance, rtol=1e-6, atol=0)
    close(signals.typicality, expected.typicality, rtol=0, atol=0)
    facts = ImageFacts(120, 100)
    for i in range(5):
        ours = gate.assess(facts, scope_inputs[i].numpy(), signals, i, 0.9, i % 3)
        assert ours == reference.gate.assess(facts, scope_inputs[i], expected, i, 0.9, i % 3)
