"""The docs follow the code: generated tables match what the code renders, links resolve, the README stays
a front door."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from service.doctables import TABLES, Table
from service.settings import ENV_PREFIX, Settings

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
