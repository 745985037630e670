"""The documentation's reference tables, figures and examples, rendered from the code and the files they
describe: settings from :class:`Settings`, log fields from :data:`service.logs.LOG_FIELDS`, Prometheus metrics
from :class:`service.metrics.ServiceMetrics`, the FHIR answer's example from
:func:`service.negotiation.example_report`, the README's validation figures from the shipped weights' metadata
and their CPU evaluation.

``python -m service.doctables`` rewrites each table in place, between its markers; a test fails when a
committed table differs from what the code renders, so the docs cannot drift from the code.
"""

from __future__ import annotations

import json
import sys
import textwrap
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import annotated_types
from prometheus_client.metrics import MetricWrapperBase
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ml.model import WeightsMetadata, read_header
from service.logs import LOG_FIELDS
from service.metrics import ServiceMetrics
from service.negotiation import example_report
from service.settings import ENV_PREFIX, Settings

REPO = Path(__file__).resolve().parents[1]
SHIPPED_WEIGHTS = REPO / "weights" / "cxr-paper-cnn.safetensors"
CPU_EVALUATION = REPO / "weights" / "validation" / "metrics.json"
"""The shipped weights' validation report, computed in float32 on the CPU (``python -m ml evaluate``)."""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _bounds(field: FieldInfo) -> str:
    parts = []
    for constraint in field.metadata:
        if isinstance(constraint, annotated_types.Ge):
            parts.append(f"≥ {constraint.ge}")
        elif isinstance(constraint, annotated_types.Gt):
            parts.append(f"> {constraint.gt}")
        elif isinstance(constraint, annotated_types.Le):
            parts.append(f"≤ {constraint.le}")
    return ", ".join(parts)


_TYPE_NAMES: dict[type, str] = {str: "text", int: "integer", float: "number", bool: "boolean", Path: "path"}


def _type(field: FieldInfo) -> str:
    annotation = field.annotation
    if typing.get_origin(annotation) is typing.Literal:
        return " \\| ".join(f"`{choice}`" for choice in typing.get_args(annotation))
    if typing.get_origin(annotation) is list:
        return "list"
    name = _TYPE_NAMES.get(annotation, str(annotation)) if isinstance(annotation, type) else str(annotation)
    bounds = _bounds(field)
    return f"{name} {bounds}" if bounds else name


def _default(field: FieldInfo) -> str:
    value: Any = field.default
    if value is PydanticUndefined and field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    if value in ([], None, ""):
        return "*(none)*"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def settings_table() -> str:
    """Every ``CXR_*`` variable: its type (with bounds), default and meaning, in the class's order."""
    rows = ["| Variable | Type | Default | Meaning |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        meaning = _cell(field.description or "")
        rows.append(f"| `{ENV_PREFIX}{name.upper()}` | {_type(field)} | {_default(field)} | {meaning} |")
    return "\n".join(rows)


def log_fields_table() -> str:
    """Every field a log line may carry besides ts, level, logger, message, request_id and exception."""
    rows = ["| Field | Set by | Meaning |", "|---|---|---|"]
    for field in LOG_FIELDS:
        rows.append(f"| `{field.name}` | {field.source.value} | {_cell(field.meaning)} |")
    return "\n".join(rows)


_SAMPLE_SUFFIXES = {"counter": "_total", "info": "_info", "gauge": "", "histogram": ""}


def metrics_table() -> str:
    """Every metric ``/metrics`` exposes: its sample name, type, labels and meaning, in definition order."""
    rows = ["| Metric | Type | Labels | Meaning |", "|---|---|---|---|"]
    for metric in vars(ServiceMetrics()).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        # prometheus_client keeps a metric's definition in these attributes; it has no public reader.
        kind = str(metric._type)
        name = f"{metric._name}{_SAMPLE_SUFFIXES[kind]}"
        labels = ", ".join(f"`{label}`" for label in metric._labelnames) or "—"
        cell = f"`{name}` (`_bucket`, `_sum`, `_count`)" if kind == "histogram" else f"`{name}`"
        if kind == "info":
            labels = "the model's (below)"
        meaning = _cell(metric._documentation)
        rows.append(f"| {cell} | {kind} | {labels} | {meaning} |")
    return "\n".join(rows)


def validation_figures() -> str:
    """The README's validation figures: the CPU evaluation every comparison uses, and what the weights carry
    (what ``GET /model`` answers)."""
    cpu = json.loads(CPU_EVALUATION.read_text())
    carried = WeightsMetadata.from_header(read_header(SHIPPED_WEIGHTS)).metrics["validation"]
    cpu_recall, carried_recall = cpu["per_class"]["COVID"]["recall"], carried["per_class"]["COVID"]["recall"]
    text = (
        f"On the {cpu['n']:,}-image validation split it reaches accuracy {cpu['accuracy']:.4f} and COVID "
        f"recall {cpu_recall:.4f}, in float32 on the CPU ([`weights/validation/metrics.json`]"
        "(weights/validation/metrics.json), the evaluation every comparison in these documents uses). "
        f"`GET /model` answers {carried['accuracy']:.4f} and {carried_recall:.4f}: the figures the weights "
        "file carries, measured in bf16 on the GPU at the end of training."
    )
    return textwrap.fill(text, width=110, break_long_words=False, break_on_hyphens=False)


def compact_json(value: Any, indent: int = 0, width: int = 118) -> str:
    """JSON with each object or array on one line when it fits in ``width`` columns, else one item a line."""
    flat = json.dumps(value, ensure_ascii=False)
    if len(flat) + indent <= width or not isinstance(value, dict | list) or not value:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(k)}: {compact_json(v, indent + 2, width)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    items = [pad + compact_json(item, indent + 2, width) for item in value]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


def fhir_example() -> str:
    """The DiagnosticReport the OpenAPI document shows, as a JSON block."""
    return f"```json\n{compact_json(example_report())}\n```"


@dataclass(frozen=True)
class Table:
    path: Path
    name: str
    render: Callable[[], str]

    @property
    def start(self) -> str:
        return f"<!-- {self.name}: generated by python -m service.doctables; do not edit -->"

    @property
    def end(self) -> str:
        return f"<!-- end of {self.name} -->"

    def committed(self, text: str | None = None) -> str:
        """The table as the file holds it now, between its markers."""
        text = self.path.read_text() if text is None else text
        if self.start not in text or self.end not in text:
            raise ValueError(f"{self.path} has no markers for {self.name}: add {self.start} and {self.end}")
        return text.split(self.start, 1)[1].split(self.end, 1)[0].strip("\n")

    def write(self) -> bool:
        """Replace the committed table with the rendered one; True when the file changed."""
        text = self.path.read_text()
        old = self.committed(text)
        new = self.render()
        if old == new:
            return False
        head, rest = text.split(self.start, 1)
        tail = rest.split(self.end, 1)[1]
        self.path.write_text(f"{head}{self.start}\n{new}\n{self.end}{tail}")
        return True


TABLES: tuple[Table, ...] = (
    Table(REPO / "docs" / "settings.md", "settings table", settings_table),
    Table(REPO / "docs" / "api.md", "log fields table", log_fields_table),
    Table(REPO / "docs" / "api.md", "FHIR example", fhir_example),
    Table(REPO / "docs" / "api.md", "metrics table", metrics_table),
    Table(REPO / "README.md", "validation figures", validation_figures),
)


def main() -> int:
    for table in TABLES:
        changed = table.write()
        print(f"{table.path.relative_to(REPO)}: {table.name} {'rewritten' if changed else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
