"""The code's layout: test modules share helpers only through a support package, never through one another
or a conftest; the benchmark needs nothing from ``tests/``; no module of the service, the benchmark or the
harness is over 250 lines; ``bench/`` is the benchmark alone, the studies live in ``ml/studies/`` with an
index, and the service imports none of them."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> Iterator[str]:
    """Every module ``path`` imports, relative imports resolved against its package."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def is_test_module(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return name.startswith("tests.") and (last.startswith("test_") or last == "conftest")


def test_no_test_module_imports_another_test_module_or_a_conftest() -> None:
    found = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        for name in imported_modules(path)
        if is_test_module(name)
    }
    assert sorted(found) == []


def test_the_benchmark_imports_nothing_from_tests() -> None:
    found = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "bench").rglob("*.py"))
        for name in imported_modules(path)
        if name == "tests" or name.startswith("tests.")
    }
    assert sorted(found) == []


def test_no_python_file_of_the_service_the_benchmark_or_the_harness_is_over_250_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for package in ("service", "bench", "harness")
        for path in sorted((ROOT / package).rglob("*.py"))
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > 250
    }
    assert long == {}


STUDY_PARTS = (
    "ml.studies",
    "ml.gate",
    "ml.evaluation",
    "ml.training",
    "ml.robustness",
    "ml.data",
    "ml.release",
)
"""What a study of the input assessment or of training is made of, and the benchmark never needs."""


def test_the_benchmark_holds_no_study() -> None:
    found = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "bench").rglob("*.py"))
        for name in imported_modules(path)
        if any(name == part or name.startswith(f"{part}.") for part in STUDY_PARTS)
    }
    assert sorted(found) == []


def test_the_service_imports_no_study_and_no_benchmark() -> None:
    found = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "service").rglob("*.py"))
        for name in imported_modules(path)
        if name.split(".")[0] == "bench" or name == "ml.studies" or name.startswith("ml.studies.")
    }
    assert sorted(found) == []


def test_every_study_is_indexed_with_its_command() -> None:
    index = (ROOT / "ml" / "studies" / "README.md").read_text(encoding="utf-8")
    studies = sorted(p.stem for p in (ROOT / "ml" / "studies").glob("*.py") if p.stem != "__init__")
    helpers = {"flag_report", "gated"}
    missing = [
        name
        for name in studies
        if f"`{name}`" not in index or (name not in helpers and f"python -m ml.studies.{name}" not in index)
    ]
    assert missing == []
