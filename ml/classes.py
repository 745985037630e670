"""The classes the model predicts, in the order of its outputs. Defined here and nowhere else."""

from typing import Final

CLASSES: Final[tuple[str, ...]] = ("COVID", "Normal", "Viral Pneumonia")
"""Also the Kaggle download's folder names, spelled as Kaggle spells them."""

POSITIVE_CLASS: Final[str] = "COVID"
