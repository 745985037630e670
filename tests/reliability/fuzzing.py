"""Schemathesis against a running server's ``/openapi.json``: every operation, with API keys on.

Each operation gets schemathesis's coverage cases (boundary values, unexpected methods, missing and
malformed parameters) and then ``examples`` generated cases in each of its two modes: positive (data the
schema allows) and negative (data it forbids). Every response must pass schemathesis's checks: no 5xx,
a documented status, the documented content type, headers and body schema, rejection of invalid data,
and 401 without a key. One check is left out: "positive data accepted", because a schema cannot say that
a ``format: binary`` upload must be a decodable PNG, JPEG or DICOM; the service rightly answers 415/422
to arbitrary bytes.

Generated uploads mix arbitrary bytes with real small images (PNG, JPEG, DICOM), so the 200 response is
validated too.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.support.images import dicom_bytes, jpeg_bytes, pattern, png_bytes, to_uint8

UPLOAD_MEDIA_TYPES = ("image/png", "image/jpeg", "application/dicom", "application/octet-stream")
EXCLUDED_CHECKS = [positive_data_acceptance]


@dataclass(frozen=True)
class FuzzFailure:
    operation: str
    phase: str
    message: str


@dataclass
class FuzzReport:
    cases: int = 0
    seconds: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    """``"POST /predict 422"`` -> count."""
    failures: list[FuzzFailure] = field(default_factory=list)

    def status_totals(self) -> Counter[int]:
        totals: Counter[int] = Counter()
        for key, count in self.statuses.items():
            totals[int(key.rsplit(" ", 1)[1])] += count
        return totals

    def summary(self) -> str:
        totals = ", ".join(f"{status}: {count}" for status, count in sorted(self.status_totals().items()))
        return (
            f"{self.cases} cases in {self.seconds:.1f} s, {len(self.failures)} failures (statuses {totals})"
        )


@cache
def valid_uploads() -> tuple[bytes, ...]:
    pixels = to_uint8(pattern())
    return (
        png_bytes(),
        png_bytes(48, 80, seed=1),
        jpeg_bytes(),
        jpeg_bytes(72, 64, seed=2, progressive=True),
        dicom_bytes(pixels),
        dicom_bytes(pixels, photometric="MONOCHROME1"),
    )


@cache
def register_upload_strategies() -> None:
    """Uploads as real images half the time, arbitrary bytes otherwise (process-wide, once)."""
    uploads = st.one_of(st.sampled_from(valid_uploads()), st.binary(max_size=4096))
    schemathesis.openapi.format("binary", uploads)
    for media_type in UPLOAD_MEDIA_TYPES:
        schemathesis.openapi.media_type(media_type, uploads)
    schemathesis.serializer.alias("application/dicom", "application/octet-stream")


def fuzz(
    base_url: str,
    *,
    api_key: str,
    examples: int,
    seed: int = 0,
    on_case: Callable[[FuzzReport], None] | None = None,
) -> FuzzReport:
    """Run the coverage cases and ``examples`` generated cases per operation and mode; collect failures."""
    register_upload_strategies()
    auth = {"Authorization": f"Bearer {api_key}"}
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", timeout=30)
    report = FuzzReport()
    started = time.perf_counter()

    def check(case: Any, label: str, phase: str) -> None:
        report.cases += 1
        # Most cases carry the key; every fourth goes as generated (no key, or a made-up one): 401s.
        headers = None if report.cases % 4 == 0 else auth
        try:
            response = case.call_and_validate(
                base_url=base_url, headers=headers, timeout=60, excluded_checks=EXCLUDED_CHECKS
            )
            report.statuses[f"{label} {response.status_code}"] += 1
        # Schemathesis raises its failures as an exception group; a transport error is a failure too.
        except (Exception, BaseExceptionGroup) as exc:
            report.failures.append(FuzzFailure(label, phase, f"{type(exc).__name__}: {exc}"[:2000]))
        if on_case is not None:
            on_case(report)

    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operation = result.ok()
        label = operation.label
        generation = schema.config.generation_for(operation=operation, phase="coverage")
        for case in schema.iter_coverage_cases(
            operation, generation_modes=list(GenerationMode), generation_config=generation
        ):
            check(case, label, "coverage")
        for mode in GenerationMode:
            # An operation without parameters or body has no invalid input to generate.
            with suppress(Unsatisfiable):
                _generated(operation, mode, examples, seed, check)()
    report.seconds = time.perf_counter() - started
    return report


def _generated(
    operation: Any, mode: GenerationMode, examples: int, seed: int, check: Callable[[Any, str, str], None]
) -> Callable[[], None]:
    """A Hypothesis test running ``check`` on ``examples`` cases of ``operation`` in ``mode``."""
    label, phase = operation.label, f"fuzzing-{mode.value}"

    @hypothesis_seed(seed)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def generated(case: Any) -> None:
        check(case, label, phase)

    result: Callable[[], None] = generated
    return result
