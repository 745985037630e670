"""Watching what the request path calls: a recording wrapper, and a decoder that must not run."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from types import ModuleType

import pytest

import ml.decoding
import service.pipeline


@dataclass(frozen=True)
class Call:
    args: tuple[object, ...]
    result: object


def spy(monkeypatch: pytest.MonkeyPatch, module: ModuleType, name: str) -> list[Call]:
    """Every call of ``module.name`` from now on, with what it returned."""
    calls: list[Call] = []
    real = getattr(module, name)

    def recording(*args: object) -> object:
        calls.append(Call(args, result := real(*args)))
        return result

    monkeypatch.setattr(module, name, recording)
    return calls


def forbid_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on, any decoder the pipeline reaches fails the test if it runs: every function of
    :mod:`ml.decoding` the pipeline holds, and the PNG/JPEG and DICOM decoders themselves."""

    def decoder_ran(*args: object, **kwargs: object) -> None:
        raise AssertionError("a decoder ran")

    held = [
        name
        for name, value in vars(service.pipeline).items()
        if inspect.isfunction(value) and value.__module__.startswith("ml.decoding")
    ]
    assert held, "the pipeline holds no decoder to forbid"
    for name in held:
        monkeypatch.setattr(service.pipeline, name, decoder_ran)
    monkeypatch.setattr(ml.decoding, "decode_raster", decoder_ran)
    monkeypatch.setattr(ml.decoding, "decode_dicom", decoder_ran)
