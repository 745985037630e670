"""OpenAPI documentation that FastAPI cannot infer: problem responses, the hand-parsed request body, and the
model's class names as the enum of every field that holds one."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from ml.classes import CLASSES
from service.errors import DOCUMENTED_ERRORS, PROBLEM_MEDIA_TYPE, ServiceError
from service.negotiation import fhir_openapi
from service.schemas import Problem
from service.upload import FILE_FIELD, RAW_BODY_TYPES

_CLASS_FIELDS: tuple[tuple[str, str], ...] = (("PredictionResponse", "label"), ("GradCam", "target"))
"""(schema, property) pairs whose value is one of the model's classes."""
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_REQUEST_ID_EXAMPLE = "5f0c8a4e2b9d4c1e8f7a6b5c4d3e2f10"

_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "Always `Bearer`.", "schema": {"type": "string"}}},
    503: {
        "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}},
    },
}


def problem_responses(*specs: int | type[ServiceError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries: a status stands for all its problem types, a class for itself."""
    by_status: dict[int, list[type[ServiceError]]] = {}
    for spec in specs:
        chosen = (
            [error for error in DOCUMENTED_ERRORS if error.status == spec]
            if isinstance(spec, int)
            else [spec]
        )
        if not chosen:
            raise ValueError(f"no documented problem has status {spec}")
        for error in chosen:
            by_status.setdefault(error.status, []).append(error)
    responses: dict[int | str, dict[str, Any]] = {}
    for status, errors in sorted(by_status.items()):
        examples = {
            error.kind: {
                "summary": error.title,
                "value": {
                    "type": error.type_uri(),
                    "title": error.title,
                    "status": status,
                    "detail": error.example,
                    "request_id": _REQUEST_ID_EXAMPLE,
                },
            }
            for error in errors
        }
        entry: dict[str, Any] = {
            "description": "; ".join(error.title for error in errors),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF, "examples": examples}},
        }
        if status in _HEADERS:
            entry["headers"] = _HEADERS[status]
        responses[status] = entry
    return responses


_BINARY = {"type": "string", "format": "binary"}

PREDICT_OPENAPI_EXTRA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": (
            f"The X-ray as a multipart form field `{FILE_FIELD}`, or the same bytes as the raw body with "
            "Content-Type image/png, image/jpeg, application/dicom or application/octet-stream. The format "
            "is recognised from the content itself; file names and declared types are ignored (a part "
            "may declare any type, or none)."
        ),
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FILE_FIELD],
                    "properties": {
                        FILE_FIELD: {**_BINARY, "description": "A PNG, JPEG or DICOM (Part 10) image."}
                    },
                },
                "encoding": {FILE_FIELD: {"contentType": ", ".join(RAW_BODY_TYPES)}},
            },
            **{media_type: {"schema": _BINARY} for media_type in RAW_BODY_TYPES},
        },
    },
    # Merged into the 200 response FastAPI writes for the JSON answer: the other representation.
    "responses": {"200": {"content": fhir_openapi()}},
}


def _name_the_classes(components: dict[str, Any]) -> None:
    """A plain ``str`` in the Python model; an enum in the document, so generated clients get the names."""
    for schema_name, field in _CLASS_FIELDS:
        properties = components.get(schema_name, {}).get("properties", {})
        if field in properties:
            properties[field]["enum"] = list(CLASSES)


class DocumentedFastAPI(FastAPI):
    """Adds the Problem schema, which routes reference by ``$ref`` for ``application/problem+json``, and the
    class names' enums."""

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            schema = super().openapi()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            _name_the_classes(components)
        assert self.openapi_schema is not None
        return self.openapi_schema
