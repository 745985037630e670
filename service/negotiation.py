"""Which representation of ``/predict``'s answer the client asked for: the JSON answer (the default), or,
when ``Accept`` prefers ``application/fhir+json``, a FHIR R4 ``DiagnosticReport`` (:mod:`service.fhir`).

Errors stay ``application/problem+json`` either way. The optional ``X-FHIR-Subject`` header gives the
report's subject, a reference such as ``Patient/123`` that the service never looks up, logs or echoes in an
error; without it the report has no subject.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from fastapi import Depends, Header, Request, Response
from fastapi.responses import JSONResponse

from service.errors import InvalidRequestError
from service.fhir import FHIR_MEDIA_TYPE, FHIR_RESPONSE_TYPE, diagnostic_report
from service.schemas import PredictionResponse

SUBJECT_HEADER: Final = "X-FHIR-Subject"
_TYPES: Final = "Patient|Group|Device|Location"
"""What a DiagnosticReport's subject may reference in R4."""
_SUBJECT: Final = re.compile(
    rf"(?:https?://[^\s/]+(?:/[^\s/]+)*/)?(?:{_TYPES})/[A-Za-z0-9\-.]{{1,64}}"
    r"|urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def accepted_quality(accept: str | None, media_type: str) -> tuple[float, bool]:
    """The quality ``accept`` gives ``media_type`` (RFC 9110: its most specific matching range), and whether
    the range that gave it names the type itself rather than a wildcard."""
    if accept is None:
        return (1.0, False)
    main = media_type.split("/")[0]
    best: tuple[int, float] = (-1, 0.0)
    for entry in accept.split(","):
        fields = [field.strip() for field in entry.split(";")]
        kind = fields[0].lower()
        quality = 1.0
        for parameter in fields[1:]:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = max(0.0, min(1.0, float(value)))
                except ValueError:
                    quality = 0.0
        specificity = {media_type: 2, f"{main}/*": 1, "*/*": 0}.get(kind, -1)
        if specificity > best[0]:
            best = (specificity, quality)
    return (best[1], best[0] == 2)


def wants_fhir(accept: str | None) -> bool:
    """True when ``accept`` names ``application/fhir+json`` and rates it at least as high as JSON."""
    fhir, named = accepted_quality(accept, FHIR_MEDIA_TYPE)
    json, _ = accepted_quality(accept, "application/json")
    return named and fhir > 0 and fhir >= json


@dataclass(frozen=True)
class FhirAnswer:
    subject: str | None

    def respond(self, answer: PredictionResponse) -> JSONResponse:
        report = diagnostic_report(answer, self.subject)
        return JSONResponse(report, media_type=FHIR_RESPONSE_TYPE, headers={"Vary": "Accept"})


def fhir_answer(
    request: Request,
    response: Response,
    subject: Annotated[
        str | None,
        Header(
            alias=SUBJECT_HEADER,
            description="With `Accept: application/fhir+json`: the DiagnosticReport's subject, a FHIR "
            "reference (`Patient/123`, an absolute URL ending so, or `urn:uuid:...`). The service neither "
            "looks it up nor logs it; without it the report has no subject.",
        ),
    ] = None,
) -> FhirAnswer | None:
    """A :class:`FhirAnswer` when the client asked for FHIR, else None (the JSON answer)."""
    response.headers["Vary"] = "Accept"
    if not wants_fhir(request.headers.get("accept")):
        return None
    if subject is not None and not _SUBJECT.fullmatch(subject.strip()):
        raise InvalidRequestError(
            f"{SUBJECT_HEADER} must be a FHIR reference to a {_TYPES.replace('|', ', ')}, such as "
            "Patient/123, an absolute URL ending so, or urn:uuid:<uuid>."
        )
    return FhirAnswer(subject.strip() if subject else None)


FhirDep = Annotated[FhirAnswer | None, Depends(fhir_answer)]


EXAMPLE_OVERLAY: Final = (
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAAAAABX3VL4AAAADklEQVR4nGNsYGBiYAAAApIAhPd8o1gAAAAASUVORK5CYII="
)
"""A real PNG (2x2 grey pixels), so that the example's attachment is valid base64 of a PNG."""
EXAMPLE_ISSUED: Final = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def example_report() -> dict[str, Any]:
    """The DiagnosticReport of the JSON answer's own OpenAPI example, for a client that sent
    ``X-FHIR-Subject: Patient/example``: the OpenAPI document's and docs/api.md's FHIR example."""
    examples = PredictionResponse.model_json_schema()["examples"]
    answer = PredictionResponse.model_validate(examples[0])
    assert answer.gradcam is not None
    answer.gradcam.overlay_png_base64 = EXAMPLE_OVERLAY
    return diagnostic_report(answer, "Patient/example", EXAMPLE_ISSUED)


def fhir_openapi() -> dict[str, Any]:
    """The 200 response's ``application/fhir+json`` entry."""
    return {
        FHIR_MEDIA_TYPE: {
            "schema": {
                "type": "object",
                "description": "A FHIR R4 DiagnosticReport (status preliminary), sent when Accept prefers "
                "application/fhir+json: the conclusion in words and as codes, one contained Observation per "
                "class probability and one for the input assessment, the model as a contained Device, the "
                "Grad-CAM overlay as a PNG presentedForm. See docs/api.md.",
                "required": ["resourceType", "status", "code", "conclusion"],
                "properties": {"resourceType": {"type": "string", "enum": ["DiagnosticReport"]}},
            },
            "example": example_report(),
        }
    }
