"""The error classes: the tree drawn in service/errors.py's docstring is the real one, and it alone decides
which problems the OpenAPI document lists."""

from __future__ import annotations

import re

import pytest

import service.errors
from service.errors import (
    DOCUMENTED_ERRORS,
    ClientDisconnectedError,
    ServiceError,
    ServiceUnavailableError,
)

_TREE_LINE = re.compile(r"^    (?P<prefix>(?:│   |    )*(?:├── |└── )?)(?P<name>\w+Error)\s+(?P<rest>.+)$")


def _drawn_tree() -> list[tuple[int, str, str]]:
    """(depth, class name, what follows it) for every line of the docstring's tree."""
    doc = service.errors.__doc__ or ""
    rows = []
    for line in doc.splitlines():
        match = _TREE_LINE.match(line)
        if match:
            rows.append((len(match["prefix"]) // 4, match["name"], match["rest"]))
    return rows


def _real_tree(cls: type[ServiceError] = ServiceError, depth: int = 0) -> list[tuple[int, str]]:
    rows = [(depth, cls.__name__)]
    for subclass in cls.__subclasses__():
        rows += _real_tree(subclass, depth + 1)
    return rows


def test_the_docstring_draws_every_error_class_where_it_stands() -> None:
    assert [(depth, name) for depth, name, _ in _drawn_tree()] == _real_tree()


def test_the_docstring_gives_each_class_its_status_and_kind() -> None:
    for _, name, rest in _drawn_tree():
        error: type[ServiceError] = getattr(service.errors, name)
        status, _, what = rest.partition(" ")
        assert int(status) == error.status, name
        if error.abstract:
            assert what.startswith("(abstract"), name
        else:
            assert what.split()[0] == error.kind, name
            assert ("(undocumented" in what) == (not error.documented), name


def test_documented_errors_are_the_concrete_documented_classes_of_the_tree() -> None:
    everything = {getattr(service.errors, name) for _, name, _ in _drawn_tree()}

    assert set(DOCUMENTED_ERRORS) == {e for e in everything if e.documented and not e.abstract}
    assert ServiceUnavailableError not in DOCUMENTED_ERRORS
    assert ClientDisconnectedError not in DOCUMENTED_ERRORS
    assert len(DOCUMENTED_ERRORS) == len(set(DOCUMENTED_ERRORS))


def test_every_problem_type_has_its_own_kind() -> None:
    kinds = [error.kind for error in DOCUMENTED_ERRORS]

    assert len(kinds) == len(set(kinds))
    assert ServiceUnavailableError.kind != ServiceError.kind


def test_an_abstract_error_cannot_be_raised() -> None:
    with pytest.raises(TypeError, match="abstract"):
        ServiceUnavailableError("busy", retry_after_s=1)
