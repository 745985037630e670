"""The CPU service without torch: it starts and answers with torch unimportable, refuses what needs torch
naming the extra to install, and gives the answers of the torch reference pipeline."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.classes import CLASSES
from ml.gradcam import predict_with_cam
from ml.model import WeightsMetadata, load_weights, save_weights
from ml.model.checks import ImageFacts
from ml.model.gate import Thresholds
from ml.model.scope import scope_input
from ml.preprocess_spec import STANDARDIZE, PreprocessSpec
from ml.preprocessing import eval_transform
from service.pipeline import Pipeline, decode_upload
from service.runner import WorkItem, load_runner
from service.settings import Settings
from service.upload import image_upload
from tests.support.gate import DOUBTING, REJECTING, TRUSTING, random_gate
from tests.support.images import png_bytes
from tests.support.weights import TEST_SPEC, random_model

ROOT = Path(__file__).resolve().parents[2]

BLOCK_TORCH = """
import sys

# As if not installed: importing either fails, and importlib.util.find_spec answers None.
sys.modules["torch"] = None
sys.modules["torchvision"] = None
"""

SERVE = """
import io, json, os
from fastapi.testclient import TestClient
from service.main import create_app

png = bytes.fromhex(os.environ["TEST_PNG"])
out = {}
with TestClient(create_app()) as client:
    answer = client.post("/predict", files={"file": ("x.png", png, "image/png")})
    out["status"] = answer.status_code
    out["body"] = answer.json()
    out["model"] = client.get("/model").json()
out["torch_loaded"] = sorted(m for m, mod in sys.modules.items() if m.split(".")[0] == "torch" and mod)
print(json.dumps(out))
"""


def run_without_torch(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = BLOCK_TORCH + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_with_torch_unimportable_the_service_starts_and_answers_predict(weights_path: Path) -> None:
    env = {"CXR_WEIGHTS_PATH": str(weights_path), "TEST_PNG": png_bytes(80, 64).hex()}

    done = run_without_torch(SERVE, env)

    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["status"] == 200
    body = out["body"]
    assert set(body["probabilities"]) == set(CLASSES)
    assert sum(body["probabilities"].values()) == pytest.approx(1.0)
    assert body["gradcam"]["overlay_png_base64"] and body["assessment"]["scores"]["chest_xray"] is not None
    assert out["model"]["engine"] in ("onnxruntime", "onnxruntime-int8")
    assert out["torch_loaded"] == []


@pytest.mark.slow
def test_with_torch_installed_a_cpu_service_never_imports_it(weights_path: Path) -> None:
    assert torch.__version__  # installed here, and importable
    env = {"CXR_WEIGHTS_PATH": str(weights_path), "CXR_DEVICE": "auto", "TEST_PNG": png_bytes(80, 64).hex()}
    code = "import ml.device, sys\nml.device.nvidia_gpu_present = lambda: False\n" + textwrap.dedent(SERVE)

    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["status"] == 200
    assert out["model"]["device"] == "cpu"
    assert out["torch_loaded"] == []


@pytest.mark.slow
@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("CXR_ENGINE", "torch", r"CXR_ENGINE=torch: .*pip install 'cxr-service\[torch\]'"),
        ("CXR_DEVICE", "cuda", r"CXR_DEVICE=cuda needs torch.*pip install 'cxr-service\[torch\]'"),
    ],
)
def test_without_torch_asking_for_it_fails_at_start_up_naming_the_extra(
    weights_path: Path, setting: str, value: str, message: str
) -> None:
    code = """
    from service.device import StartupError
    from service.runner import load_runner
    from service.settings import settings_from_env
    try:
        load_runner(settings_from_env())
    except StartupError as exc:
        print(exc)
    else:
        raise SystemExit("started")
    """

    done = run_without_torch(code, {"CXR_WEIGHTS_PATH": str(weights_path), setting: value})

    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(message, done.stdout), done.stdout


def reference_answer(
    path: Path, image: np.ndarray
) -> tuple[int, list[float], tuple[bool, bool, tuple[str, ...]]]:
    """The torch pipeline: torch preprocessing, the module, autograd Grad-CAM, the torch gate."""
    loaded = load_weights(path)
    assert loaded.gate is not None
    pixels = torch.from_numpy(image)
    x = eval_transform(pixels, loaded.metadata.preprocessing)[None]
    result = predict_with_cam(loaded.model, x, with_taps=True)
    probabilities = torch.softmax(result.logits / loaded.metadata.temperature, dim=1)[0]
    scope = scope_input(pixels, loaded.gate.config.scope_size)
    signals = loaded.gate.signals(scope[None], result.taps)
    facts = ImageFacts(*image.shape)
    verdict = loaded.gate.assess(
        facts, scope, signals, 0, float(probabilities.max()), int(probabilities.argmax())
    )
    return (
        int(result.targets[0]),
        probabilities.tolist(),
        (verdict.in_scope, verdict.uncertain, verdict.reasons),
    )


@pytest.mark.parametrize("standardize", STANDARDIZE)
@pytest.mark.parametrize(
    "thresholds", [TRUSTING, REJECTING, DOUBTING], ids=["trusting", "rejecting", "doubting"]
)
def test_the_numpy_service_gives_the_torch_pipelines_label_probabilities_and_assessment(
    tmp_path: Path, standardize: str, thresholds: Thresholds
) -> None:
    spec = PreprocessSpec(resize=TEST_SPEC.resize, crop=TEST_SPEC.crop, standardize=standardize)
    path = tmp_path / "w.safetensors"
    metadata = WeightsMetadata("paper_cnn", list(CLASSES), preprocessing=spec, temperature=1.5)
    save_weights(path, random_model(7), metadata, random_gate(thresholds, seed=1))
    runner, _ = load_runner(Settings(weights_path=path, engine="onnxruntime"))
    pipeline = Pipeline.build(Settings(weights_path=path), spec, runner.scope_size)

    for seed in range(4):
        png = png_bytes(90 + seed * 7, 70, seed)
        prepared = pipeline.prepare("image/png", png, with_canvas=False)
        (answer,) = runner.run([WorkItem(prepared.inputs, prepared.scope_inputs, prepared.facts)], [True])

        label, probabilities, outcome = reference_answer(
            path, decode_upload(image_upload("image/png", png), pipeline.limits).pixels
        )

        assert answer.label_index == label
        assert answer.probabilities == pytest.approx(probabilities, abs=1e-4)
        verdict = answer.assessment
        assert (verdict.in_scope, verdict.uncertain, verdict.reasons) == outcome
