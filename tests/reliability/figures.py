"""Figures the reliability tests measured, printed in pytest's terminal summary."""

from __future__ import annotations

FIGURES: dict[str, str] = {}


def record(name: str, value: object) -> None:
    FIGURES[name] = str(value)
