"""A TypeScript client generated from /openapi.json (openapi-typescript) compiles, with `label` typed as the
model's class names. Needs node and npm; it skips, saying why, without them or without the npm packages."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from ml.classes import CLASSES
from service.main import create_app
from service.settings import Settings

CLIENT_DIR = Path(__file__).resolve().parents[1] / "typescript"
BIN = CLIENT_DIR / "node_modules" / ".bin"


def _run(command: list[str], cwd: Path, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False)


@pytest.fixture(scope="module")
def node_tools() -> Path:
    """tests/typescript/node_modules/.bin with openapi-typescript and tsc, installed from the lock file."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("the TypeScript client check needs node and npm on PATH")
    if not (BIN / "tsc").exists() or not (BIN / "openapi-typescript").exists():
        installed = _run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], CLIENT_DIR)
        if installed.returncode != 0:
            pytest.skip(f"npm could not install openapi-typescript and typescript: {installed.stderr[-500:]}")
    return BIN


def test_the_schema_names_the_model_classes_wherever_a_field_holds_one(
    make_settings: Callable[..., Settings],
) -> None:
    schemas = create_app(make_settings()).openapi()["components"]["schemas"]

    assert schemas["PredictionResponse"]["properties"]["label"]["enum"] == list(CLASSES)
    assert schemas["GradCam"]["properties"]["target"]["enum"] == list(CLASSES)


@pytest.mark.slow
def test_a_generated_typescript_client_compiles_with_label_as_the_class_names(
    node_tools: Path, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    schema = create_app(make_settings()).openapi()
    (tmp_path / "openapi.json").write_text(json.dumps(schema))
    union = " | ".join(json.dumps(name) for name in CLASSES)
    (tmp_path / "classes.ts").write_text(f"export type ModelClass = {union};\n")
    shutil.copy(CLIENT_DIR / "client.ts", tmp_path / "client.ts")

    generated = _run([str(node_tools / "openapi-typescript"), "openapi.json", "-o", "api.d.ts"], tmp_path)
    assert generated.returncode == 0, generated.stderr
    options = ["--noEmit", "--strict", "--target", "es2022", "--lib", "es2022,dom"]
    modules = ["--module", "es2022", "--moduleResolution", "bundler"]
    compiled = _run([str(node_tools / "tsc"), *options, *modules, "client.ts"], tmp_path)

    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    assert f"label: {union};" in (tmp_path / "api.d.ts").read_text()
