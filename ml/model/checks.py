"""The input assessment's vocabulary, and the checks that need no model.

:class:`Reason` holds every stable code an assessment can give; clients match on them. The cheap checks
look at what the decoder saw (colour, DICOM tags) and at the image itself, shrunk to the scope
classifier's input: its shape, and whether it holds any picture at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import numpy as np


class Reason(StrEnum):
    """Why an answer must not stand alone. The first group makes an image out of scope."""

    NOT_FRONTAL_CHEST_XRAY = "not_frontal_chest_xray"
    INVERTED_POLARITY = "inverted_polarity"
    WRONG_ORIENTATION = "wrong_orientation"
    FAR_FROM_TRAINING_DATA = "far_from_training_data"
    BLANK_IMAGE = "blank_image"
    COLOUR_IMAGE = "colour_image"
    UNUSUAL_ASPECT_RATIO = "unusual_aspect_ratio"
    NON_RADIOGRAPH_MODALITY = "non_radiograph_modality"
    LATERAL_VIEW = "lateral_view"
    OTHER_BODY_PART = "other_body_part"
    LOW_CONFIDENCE = "low_confidence"
    ATYPICAL_FOR_TRAINING_DATA = "atypical_for_training_data"
    GATE_UNAVAILABLE = "gate_unavailable"
    UNFAMILIAR_SOURCE = "unfamiliar_source"
    """Not about the image alone: the site's recent answers look unlike the training hospitals'
    (the source-shift monitor, :mod:`ml.model.monitor`)."""

    @property
    def out_of_scope(self) -> bool:
        return self not in _UNCERTAIN


_UNCERTAIN: Final = frozenset(
    {
        Reason.LOW_CONFIDENCE,
        Reason.ATYPICAL_FOR_TRAINING_DATA,
        Reason.GATE_UNAVAILABLE,
        Reason.UNFAMILIAR_SOURCE,
    }
)

RADIOGRAPH_MODALITIES: Final = frozenset({"", "CR", "DX", "DR", "RG", "XR", "OT", "SC"})
"""DICOM Modality values a chest radiograph may carry; CT, MR, US, NM, PT, MG, ... are out of scope."""
LATERAL_VIEWS: Final = frozenset({"LL", "RL", "LLD", "RLD", "LAT", "LATERAL"})
CHEST_WORDS: Final = ("CHEST", "THORAX", "LUNG", "TORSO")


@dataclass(frozen=True)
class ImageFacts:
    """What the decoder learned besides the grayscale pixels. No patient data, only acquisition facts."""

    height: int
    width: int
    colour_fraction: float = 0.0
    """Share of pixels whose channels differ by more than 10% of the range (0 for grayscale files)."""
    modality: str = ""
    view_position: str = ""
    body_part: str = ""


@dataclass(frozen=True)
class CheckLimits:
    max_aspect: float = 1.7
    """Longer side over shorter side; chest films are 1 to about 1.3."""
    min_contrast: float = 0.04
    """Spread between the 1st and 99th percentile of intensity, in [0, 1]."""
    max_colour_fraction: float = 0.05


def colour_fraction(rgb: np.ndarray) -> float:
    """Share of pixels whose channels differ by more than a tenth of the range (``rgb`` in [0, 1])."""
    spread = rgb.max(axis=-1) - rgb.min(axis=-1)
    return float((spread > 0.1).mean()) if spread.size else 0.0


def cheap_reasons(facts: ImageFacts, scope_inputs: np.ndarray, limits: CheckLimits) -> list[Reason]:
    """Reasons to call an image out of scope without any model; ``scope_inputs`` is ``[1, s, s]``."""
    reasons = []
    if facts.modality.strip().upper() not in RADIOGRAPH_MODALITIES:
        reasons.append(Reason.NON_RADIOGRAPH_MODALITY)
    if facts.view_position.strip().upper() in LATERAL_VIEWS:
        reasons.append(Reason.LATERAL_VIEW)
    part = facts.body_part.strip().upper()
    if part and not any(word in part for word in CHEST_WORDS):
        reasons.append(Reason.OTHER_BODY_PART)
    if facts.colour_fraction > limits.max_colour_fraction:
        reasons.append(Reason.COLOUR_IMAGE)
    if max(facts.height, facts.width) > limits.max_aspect * min(facts.height, facts.width):
        reasons.append(Reason.UNUSUAL_ASPECT_RATIO)
    values = np.asarray(scope_inputs, dtype=np.float32).ravel()
    low, high = (float(v) for v in np.quantile(values, (0.01, 0.99)))
    # The scope input is normalised to [-1, 1], twice the [0, 1] range of the limits.
    if (high - low) / 2 < limits.min_contrast:
        reasons.append(Reason.BLANK_IMAGE)
    return reasons
