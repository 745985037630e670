"""The error classes: the tree drawn in service/errors.py's docstring is the real one, and it alone decides
which problems the OpenAPI document lists."""

from __future__ import annotations

import re

import pytest

import service.errors
from service.decoding import DecodeLimits, decode_image
from service.errors import (
    DOCUMENTED_ERRORS,
    ClientDisconnectedError,
    InvalidImageError,
    ServiceError,
    ServiceUnavailableError,
    summarize,
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


def test_summaries_hold_no_python_object_address() -> None:
    class DecoderError(Exception):
        pass

    text = summarize(DecoderError("cannot identify image file <_io.BytesIO object at 0x7f3a2c1d9e40>"))
    bare = summarize(DecoderError("bad chunk at 0x7ffde2a0 in stream"))

    assert text == "DecoderError: cannot identify image file"
    assert "0x" not in bare and bare.startswith("DecoderError: bad chunk")


def test_an_unidentifiable_png_is_refused_without_a_python_object_in_the_detail() -> None:
    png_signature_then_garbage = b"\x89PNG\r\n\x1a\n" + b"\0" * 40

    with pytest.raises(InvalidImageError) as refused:
        decode_image(png_signature_then_garbage, DecodeLimits(max_pixels=10**6, min_side=16))

    assert "0x" not in refused.value.detail and "BytesIO" not in refused.value.detail
