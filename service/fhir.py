"""HL7 FHIR R4: the answer of ``POST /predict`` as a ``DiagnosticReport``, for clients that ask for
``application/fhir+json``.

The report is built from the JSON answer (:class:`~service.schemas.PredictionResponse`), so the two always
say the same:

- ``status`` ``preliminary`` (a model's reading, for a radiologist to confirm); ``code`` LOINC 36554-4,
  "XR Chest Single view"; ``category`` radiology;
- ``conclusion`` in words, and ``conclusionCode``: the predicted class (the service's code and SNOMED CT's)
  when the image is in scope, with ``uncertain`` when the answer must not stand alone; only
  ``out-of-scope`` when it is not;
- ``contained``: the model as a ``Device`` (its name, version and the weights file's sha256), one
  ``Observation`` per class probability and one for the input assessment (``in-scope``, ``uncertain``, each
  reason and score as components), each naming the ``Device`` as its ``device``. R4 allows no device as a
  ``DiagnosticReport`` performer; an ``Observation``'s ``device`` is the element for it;
- ``presentedForm``: the Grad-CAM overlay as a PNG attachment, when there is one;
- ``subject``: only the reference the client sent in ``X-FHIR-Subject``; no patient data is invented.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from html import escape
from typing import Any, Final

from service.schemas import PredictionResponse, SiteStatus

JsonObject = dict[str, Any]

FHIR_MEDIA_TYPE: Final = "application/fhir+json"
FHIR_RESPONSE_TYPE: Final = f"{FHIR_MEDIA_TYPE}; fhirVersion=4.0"
LOINC: Final = "http://loinc.org"
SNOMED: Final = "http://snomed.info/sct"
UCUM: Final = "http://unitsofmeasure.org"
DATA_ABSENT: Final = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
CLASS_SYSTEM: Final = "urn:cxr-service:class"
PROBABILITY_SYSTEM: Final = "urn:cxr-service:probability"
OBSERVATION_SYSTEM: Final = "urn:cxr-service:observation"
REASON_SYSTEM: Final = "urn:cxr-service:reason"
ASSESSMENT_SYSTEM: Final = "urn:cxr-service:assessment"
SHA256_SYSTEM: Final = "urn:cxr-service:weights-sha256"
REQUEST_SYSTEM: Final = "urn:cxr-service:request-id"

STUDY: Final = {"coding": [{"system": LOINC, "code": "36554-4", "display": "XR Chest Single view"}]}
RADIOLOGY: Final = {
    "coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD", "display": "Radiology"}
    ]
}
IMAGING: Final = {
    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "imaging"}]
}
CLASS_SNOMED: Final = {
    "COVID": ("840539006", "Disease caused by severe acute respiratory syndrome coronavirus 2 (disorder)"),
    "Normal": ("17621005", "Normal (qualifier value)"),
    "Viral Pneumonia": ("75570004", "Viral pneumonia (disorder)"),
}
"""SNOMED CT's concept for each of the shipped model's classes; another model's classes get the service's
code alone."""
NOT_A_DIAGNOSIS: Final = "A model's preliminary reading for research and a second opinion, not a diagnosis."
DEVICE_ID: Final = "model"
ASSESSMENT_ID: Final = "assessment"


def diagnostic_report(
    answer: PredictionResponse, subject: str | None = None, issued: datetime | None = None
) -> JsonObject:
    """The FHIR R4 ``DiagnosticReport`` saying what ``answer`` says; ``subject`` a reference the client
    gave (``Patient/123``), else none."""
    subject_ref = {"subject": {"reference": subject}} if subject else {}
    device_ref = {"device": {"reference": f"#{DEVICE_ID}"}}
    probabilities = [
        _observation(
            f"probability-{index + 1}",
            _code(PROBABILITY_SYSTEM, label, f"Calibrated probability of {label}"),
            {"valueQuantity": _fraction(value, "probability")},
            subject_ref | device_ref,
        )
        for index, (label, value) in enumerate(answer.probabilities.items())
    ]
    assessment = _observation(
        ASSESSMENT_ID,
        _code(OBSERVATION_SYSTEM, "input-assessment", "Input assessment"),
        {"component": _assessment_components(answer)},
        subject_ref | device_ref,
    )
    words = conclusion(answer)
    report: JsonObject = {
        "resourceType": "DiagnosticReport",
        "id": answer.request_id,
        "text": {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{escape(words)}</div>',
        },
        "contained": [_device(answer), *probabilities, assessment],
        "identifier": [{"system": REQUEST_SYSTEM, "value": answer.request_id}],
        "status": "preliminary",
        "category": [RADIOLOGY],
        "code": STUDY | {"text": "Chest X-ray, frontal view: classification by a model"},
        **subject_ref,
        "issued": _instant(issued or datetime.now(UTC)),
        "result": [{"reference": f"#{resource['id']}"} for resource in [*probabilities, assessment]],
        "conclusion": words,
        "conclusionCode": conclusion_codes(answer),
    }
    if answer.gradcam is not None:
        report["presentedForm"] = [_overlay(answer.gradcam.overlay_png_base64, answer.gradcam.target)]
    return report


def conclusion(answer: PredictionResponse) -> str:
    """The answer in words: the class and its probability, or why there is none to trust."""
    verdict = answer.assessment
    reasons = ", ".join(verdict.reasons)
    if not verdict.in_scope:
        return (
            f"No reading: the image is outside the model's scope ({reasons}); its class probabilities are "
            f"meaningless. {NOT_A_DIAGNOSIS}"
        )
    found = f"Most probable class: {answer.label} ({answer.probabilities[answer.label]:.1%})"
    if verdict.uncertain:
        return f"{found}, uncertain ({reasons}): the answer must not stand alone. {NOT_A_DIAGNOSIS}"
    return f"{found}; the input assessment finds the image in scope and the answer certain. {NOT_A_DIAGNOSIS}"


def conclusion_codes(answer: PredictionResponse) -> list[JsonObject]:
    """The class (never for an image out of scope), then ``uncertain`` or ``out-of-scope`` if so."""
    verdict = answer.assessment
    if not verdict.in_scope:
        return [_code(ASSESSMENT_SYSTEM, "out-of-scope", "Image outside the model's scope: no reading")]
    label = answer.label
    codings = [{"system": CLASS_SYSTEM, "code": label, "display": label}]
    if label in CLASS_SNOMED:
        code, display = CLASS_SNOMED[label]
        codings.append({"system": SNOMED, "code": code, "display": display})
    codes: list[JsonObject] = [{"coding": codings, "text": label}]
    if verdict.uncertain:
        codes.append(_code(ASSESSMENT_SYSTEM, "uncertain", "Uncertain: the answer must not stand alone"))
    return codes


def _assessment_components(answer: PredictionResponse) -> list[JsonObject]:
    verdict = answer.assessment
    components: list[JsonObject] = [
        {
            "code": _code(OBSERVATION_SYSTEM, "in-scope", "Image in the model's scope"),
            "valueBoolean": verdict.in_scope,
        },
        {
            "code": _code(OBSERVATION_SYSTEM, "uncertain", "Answer uncertain"),
            "valueBoolean": verdict.uncertain,
        },
    ]
    components += [
        {
            "code": _code(OBSERVATION_SYSTEM, "reason", "Reason"),
            "valueCodeableConcept": {"coding": [{"system": REASON_SYSTEM, "code": reason}]},
        }
        for reason in verdict.reasons
    ]
    for name, value in verdict.scores.model_dump().items():
        code = _code(OBSERVATION_SYSTEM, f"score-{name.replace('_', '-')}", f"Score: {name}")
        if value is None:  # weights without an input assessment
            reason = {"coding": [{"system": DATA_ABSENT, "code": "not-performed"}]}
            components.append({"code": code, "dataAbsentReason": reason})
        else:
            unit = "share" if name in ("typicality", "familiarity") else "probability"
            components.append({"code": code, "valueQuantity": _fraction(value, unit)})
    return components + _site_components(verdict.site)


def _site_components(site: SiteStatus | None) -> list[JsonObject]:
    """The source-shift monitor's view of the site the answer was counted for, once its window is full."""
    if site is None or site.statistic is None:
        return []
    return [
        {
            "code": _code(OBSERVATION_SYSTEM, "site-unfamiliar", "The site's recent films look unfamiliar"),
            "valueBoolean": site.unfamiliar,
        },
        {
            "code": _code(OBSERVATION_SYSTEM, "site-statistic", "The site's mean familiarity"),
            "valueQuantity": _fraction(site.statistic, "share"),
        },
    ]


def _device(answer: PredictionResponse) -> JsonObject:
    model = answer.model
    return {
        "resourceType": "Device",
        "id": DEVICE_ID,
        "identifier": [{"system": SHA256_SYSTEM, "value": model.sha256}],
        "deviceName": [{"name": model.name, "type": "model-name"}],
        "type": {"text": "Chest X-ray classifier (software)"},
        "version": [{"value": model.version}],
    }


def _observation(identifier: str, code: JsonObject, value: JsonObject, refs: JsonObject) -> JsonObject:
    return {
        "resourceType": "Observation",
        "id": identifier,
        "status": "preliminary",
        "category": [IMAGING],
        "code": code,
        **refs,
        **value,
    }


def _overlay(png_base64: str, target: str) -> JsonObject:
    return {
        "contentType": "image/png",
        "data": png_base64,
        "size": len(base64.b64decode(png_base64, validate=True)),
        "title": f"Grad-CAM overlay: where the model looked for {target}",
    }


def _code(system: str, code: str, display: str) -> JsonObject:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def _fraction(value: float, unit: str) -> JsonObject:
    """A number in [0, 1]: UCUM's unity, named in words."""
    return {"value": value, "unit": unit, "system": UCUM, "code": "1"}


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
