"""int8 on the CPU: the calibration a weights file carries, and the int8 graph built from it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from ml.engine import INT8, EngineError, EngineName, OnnxRuntimeEngine, build_engine, resolve_engine, select
from ml.engine.quantize import activation_scale, quantize_bias, quantize_weight
from ml.engine.torch_engine import build_onnx, classifier_of
from ml.gradcam import predict_with_cam
from ml.model import WeightsError, load_weights
from ml.model.int8 import Int8Calibration, activation_maxima
from tests.support.weights import TEST_SPEC, random_int8, random_model, write_random_weights

CPU = "cpu"
SHA = "cd" * 32


@pytest.mark.parametrize(("bits", "limit"), [(7, 63), (8, 127)])
def test_weights_are_rounded_per_output_channel_to_within_half_a_step(bits: int, limit: int) -> None:
    weight = np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32)
    weight[2] *= 100  # one loud channel must not coarsen the others

    q, scale = quantize_weight(weight, bits)

    assert q.dtype == np.int8 and scale.shape == (4,)
    assert np.abs(q).max() == limit
    restored = q * scale[:, None, None, None]
    assert np.all(np.abs(restored - weight) <= scale[:, None, None, None] / 2 + 1e-7)
    assert scale[0] < scale[2] / 50


def test_biases_are_int32_at_the_input_scale_times_the_weight_scale() -> None:
    bias = np.array([0.5, -1.25, 3.0], dtype=np.float32)
    weight_scale = np.array([0.01, 0.02, 0.005], dtype=np.float32)
    input_scale = activation_scale(25.5, 8)

    q = quantize_bias(bias, input_scale, weight_scale)

    step = float(input_scale) * weight_scale
    assert q.dtype == np.int32
    assert np.all(np.abs(q * step - bias) <= step / 2 + 1e-9)


def test_the_calibration_is_each_relus_maximum_and_travels_as_json() -> None:
    model = random_model(2)
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))

    maxima = activation_maxima(model, [x[:2], x[2:]])

    assert len(maxima) == 8 and all(m > 0 for m in maxima)
    with torch.no_grad():
        assert maxima[-1] == pytest.approx(float(model.body(x).max()))
    record = Int8Calibration(maxima, calibrated={"images": 4})
    assert Int8Calibration.from_json(record.to_json()) == record


@pytest.mark.parametrize(
    ("maxima", "fp32_convs", "message"),
    [
        ((1.0, 2.0), (1,), "first convolution"),
        ((1.0, 0.0), (0,), "positive"),
        ((1.0, 2.0), (0, 5), "outside"),
    ],
)
def test_a_calibration_that_cannot_be_built_is_refused(
    maxima: tuple[float, ...], fp32_convs: tuple[int, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Int8Calibration(maxima, fp32_convs=fp32_convs)


def test_bits_outside_what_int8_holds_are_refused() -> None:
    with pytest.raises(ValueError, match="bits"):
        Int8Calibration((1.0, 2.0), weight_bits=9)


def test_the_int8_graph_keeps_the_chosen_convolutions_in_fp32_and_stores_the_others_in_int8() -> None:
    model = random_model(1)
    proto = onnx.load_from_string(build_onnx(model, SHA, random_int8(model)))

    initializers = {t.name: t for t in proto.graph.initializer}
    producers = {node.output[0]: node for node in proto.graph.node}
    weights = [node.input[1] for node in proto.graph.node if node.op_type == "Conv"]
    stored = [initializers[name if name in initializers else producers[name].input[0]] for name in weights]

    # Convolution 0 reads fp32 weights directly; the others dequantize int8 ones.
    assert [t.data_type == onnx.TensorProto.INT8 for t in stored] == [False] + [True] * 7
    assert stored[0].data_type == onnx.TensorProto.FLOAT


def test_the_int8_engine_answers_close_to_fp32_with_the_same_outputs() -> None:
    model = random_model(3)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(6, 3, TEST_SPEC.crop, TEST_SPEC.crop, generator=generator)
    reference = predict_with_cam(model, x, with_taps=True)

    engine = OnnxRuntimeEngine(classifier_of(model, SHA), threads=1, int8=random_int8(model))
    result = engine.predict(x.numpy(), with_cam=True, with_taps=True)

    assert engine.name == INT8
    scale = float(reference.logits.abs().max())
    torch.testing.assert_close(torch.from_numpy(result.logits), reference.logits, rtol=0, atol=0.1 * scale)
    assert result.cams is not None and reference.cams is not None
    assert result.cams.shape == reference.cams.shape
    assert [t.shape for t in result.taps] == [t.shape for t in reference.taps]


def test_auto_takes_int8_only_where_the_weights_carry_a_calibration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(select, "int8_products_exact", lambda: True)
    assert resolve_engine("auto", CPU, int8_calibrated=True) == INT8
    assert resolve_engine("auto", CPU, int8_calibrated=False) == EngineName.ONNXRUNTIME
    assert resolve_engine("onnxruntime", CPU, int8_calibrated=True) == EngineName.ONNXRUNTIME
    assert resolve_engine("auto", "cuda", int8_calibrated=True) == EngineName.TORCH
    with pytest.raises(EngineError, match="no int8 calibration"):
        resolve_engine(INT8, CPU, int8_calibrated=False)
    with pytest.raises(EngineError, match="needs the weights' int8 calibration"):
        build_engine(INT8, classifier_of(random_model(), SHA), CPU)


def test_a_cpu_whose_int8_products_could_saturate_keeps_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(select, "int8_products_exact", lambda: False)

    assert resolve_engine("auto", CPU, int8_calibrated=True) == EngineName.ONNXRUNTIME
    with pytest.raises(EngineError, match="no VNNI"):
        resolve_engine(INT8, CPU, int8_calibrated=True)


@pytest.mark.parametrize(
    ("machine", "flags", "exact"),
    [
        ("x86_64", "fpu avx2 fma", False),
        ("x86_64", "fpu avx2 avx512f avx512_vnni", True),
        ("x86_64", "fpu avx2 avx_vnni", True),
        ("aarch64", "fp asimd", True),
    ],
)
def test_exact_int8_products_are_read_off_the_cpu(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, machine: str, flags: str, exact: bool
) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    monkeypatch.setattr("platform.machine", lambda: machine)
    monkeypatch.setattr(select, "CPUINFO", cpuinfo)

    assert select.int8_products_exact() is exact


def test_the_weights_file_carries_its_calibration_and_a_mismatched_one_is_refused(tmp_path: Path) -> None:
    record = random_int8()
    loaded = load_weights(write_random_weights(tmp_path / "int8.safetensors", int8=record))
    assert loaded.int8 == record
    assert load_weights(write_random_weights(tmp_path / "fp32.safetensors")).int8 is None

    short = Int8Calibration(record.activation_max[:4], fp32_convs=(0,))
    with pytest.raises(WeightsError, match="covers 4 of 8"):
        load_weights(write_random_weights(tmp_path / "short.safetensors", int8=short))
