"""The docs follow the code: generated tables match what the code renders, quoted figures match the files
they come from, links resolve, the README stays a front door."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from prometheus_client.parser import text_string_to_metric_families

from ml.model import WeightsMetadata, read_header
from service.doctables import CPU_EVALUATION, SHIPPED_WEIGHTS, TABLES, Table
from service.settings import ENV_PREFIX, Settings
from tests.support.app import Service
from tests.support.images import multipart, png_bytes

REPO = Path(__file__).resolve().parents[2]
_LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("table", TABLES, ids=lambda table: table.name)
def test_the_committed_table_is_what_the_code_renders(table: Table) -> None:
    assert table.committed() == table.render(), (
        f"{table.path.relative_to(REPO)} is out of date: run python -m service.doctables"
    )


def test_the_settings_table_has_one_row_per_setting_with_its_default() -> None:
    text = next(table for table in TABLES if table.name == "settings table").committed()
    rows = {line.split("|")[1].strip(" `"): line for line in text.splitlines() if line.startswith("| `")}

    assert set(rows) == {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    assert "`weights/cxr-paper-cnn.safetensors`" in rows["CXR_WEIGHTS_PATH"]
    assert "`20971520`" in rows["CXR_MAX_BODY_BYTES"]
    assert "`false`" in rows["CXR_REJECT_OUT_OF_SCOPE"]
    assert "*(none)*" in rows["CXR_API_KEYS"] and "/healthz, /readyz" in rows["CXR_API_KEYS"]


def _documents() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


@pytest.mark.parametrize("document", _documents(), ids=lambda path: path.name)
def test_every_relative_link_points_to_a_file_that_exists(document: Path) -> None:
    targets = [target.split("#")[0] for target in _LINK.findall(document.read_text())]
    relative = [target for target in targets if target and not target.startswith(("http:", "https:"))]

    missing = [target for target in relative if not (document.parent / target).exists()]

    assert not missing, f"{document.relative_to(REPO)} links to missing files: {missing}"


def test_the_readme_is_a_front_door_of_at_most_250_lines() -> None:
    assert len((REPO / "README.md").read_text().splitlines()) <= 250


def test_the_model_card_quotes_the_cpu_evaluation_and_the_figures_the_weights_carry() -> None:
    card = (REPO / "weights" / "MODEL_CARD.md").read_text()
    cpu = json.loads(CPU_EVALUATION.read_text())
    covid = cpu["per_class"]["COVID"]
    carried = WeightsMetadata.from_header(read_header(SHIPPED_WEIGHTS)).metrics["validation"]

    for metric, value in [
        ("accuracy", cpu["accuracy"]),
        ("COVID precision", covid["precision"]),
        ("COVID recall", covid["recall"]),
        ("COVID F1", covid["f1"]),
    ]:
        assert re.search(rf"^\| {metric} \|.*\| \*\*{value:.4f}\*\* \|", card, re.MULTILINE), metric
    assert f"**{cpu['ece']:.4f}** ({cpu['uncalibrated']['ece']:.4f} before)" in card
    stated = (
        f"accuracy\n{carried['accuracy']:.4f}, COVID recall {carried['per_class']['COVID']['recall']:.4f}"
    )
    assert stated.replace("\n", " ") in card.replace("\n", " ")
    assert f"ECE {carried['ece']:.4f}" in card


def test_the_training_guide_quotes_the_cpu_evaluation() -> None:
    guide = (REPO / "docs" / "training.md").read_text()
    cpu = json.loads(CPU_EVALUATION.read_text())
    covid = cpu["per_class"]["COVID"]

    assert f"| accuracy | 0.9717 | 0.9502 | {cpu['accuracy']:.4f} |" in guide
    assert f"| {covid['precision']:.4f} / {covid['recall']:.4f} / {covid['f1']:.4f} |" in guide


@pytest.mark.anyio
async def test_every_metric_a_live_service_exposes_is_in_the_api_docs(svc: Service) -> None:
    await svc.client.post("/predict", files=multipart(png_bytes()))
    api = (REPO / "docs" / "api.md").read_text()
    table = next(table for table in TABLES if table.name == "metrics table").committed()

    families = list(text_string_to_metric_families((await svc.client.get("/metrics")).text))
    # The parser reads each counter's and histogram's creation time as a family of its own.
    ours = [f for f in families if f.name.startswith("cxr_") and not f.name.endswith("_created")]

    assert {"cxr_assessments", "cxr_assessment_reasons"} <= {family.name for family in ours}
    for family in ours:
        name = family.name + ("_total" if family.type == "counter" else "")
        (row,) = [line for line in table.splitlines() if line.startswith(f"| `{name}`")]
        # The model info's labels are its values' keys, listed below the table.
        where = api if "(below)" in row else row
        for label in {label for s in family.samples for label in s.labels} - {"le"}:
            assert f"`{label}`" in where, (name, label)


def _dev_requirements() -> set[str]:
    """Every distribution ``make test`` installs by name: the dev extra and the extras it pulls in."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    names: set[str] = set()
    pending = ["dev"]
    while pending:
        for line in extras[pending.pop()]:
            requirement = Requirement(line)
            if canonicalize_name(requirement.name) == canonicalize_name(project["name"]):
                pending += sorted(requirement.extras)
            else:
                names.add(canonicalize_name(requirement.name))
    return names


@pytest.mark.parametrize("document", _documents(), ids=lambda path: path.name)
def test_no_document_tells_to_pip_install_what_make_test_already_installs(document: Path) -> None:
    installed = _dev_requirements()
    told = []
    for command in re.findall(r"pip install ([^`\n]+)", document.read_text()):
        for word in command.split():
            try:
                name = canonicalize_name(Requirement(word.strip("'\"")).name)
            except InvalidRequirement:
                continue
            if name in installed:
                told.append(name)

    assert not told, f"{document.relative_to(REPO)} says to pip install {told}, which make test installs"
