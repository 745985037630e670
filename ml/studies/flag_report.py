"""The report of an uncertain-flag measurement (:mod:`ml.studies.flag_candidates` and its kin): the shares per
validation half and per external-dev source, and which of issue 19's targets each flag misses."""

from __future__ import annotations

from typing import Any


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


IN_LIMITS = {"out_of_scope": 0.02, "uncertain": 0.10}
"""Issue 19's ceilings in distribution: the validation side, whole and its ``select`` half."""
OUT_FLOORS = {"unflagged": 0.25, "accuracy_unflagged": 0.85, "errors_flagged": 0.70}
"""Issue 19's floors on other hospitals' images: every external-dev source and all of them."""


def misses(result: dict[str, Any]) -> list[str]:
    """The targets ``result`` misses (none where a source has no error to flag)."""
    val, ext = result["validation"], result["external"]
    m = [f"validation {h} {k}" for h in ("all", "select") for k, v in IN_LIMITS.items() if val[h][k] > v]
    m += [f"{s} {k}" for s, q in ext.items() for k, v in OUT_FLOORS.items() if q[k] is not None and q[k] < v]
    return m


def table(results: dict[str, Any], side: str, groups: list[str], keys: list[str]) -> list[str]:
    head = ["flag", *(f"{g}: {k.replace('_', ' ')}" for g in groups for k in keys)]
    rows = [[n, *(_pct(r[side][g][k]) for g in groups for k in keys)] for n, r in results.items()]
    return ["| " + " | ".join(cells) + " |" for cells in (head, ["---"] * len(head), *rows)]


def render(results: dict[str, Any]) -> str:
    lines = table(results, "validation", ["all", "select", "assess"], list(IN_LIMITS))
    lines += ["", *table(results, "external", list(results["served"]["external"]), list(OUT_FLOORS)), ""]
    lines += [f"- {name}: misses {', '.join(misses(r)) or 'nothing'}" for name, r in results.items()]
    return "\n".join(lines) + "\n"
