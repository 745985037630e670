"""Offline side of the project: data, the paper's CNN, training, evaluation and export.

The service imports only :mod:`ml.model`, :mod:`ml.decoding`, :mod:`ml.preprocessing`, :mod:`ml.gradcam`
and :mod:`ml.device` from here: the same decoder, preprocessing and device choice as training, never
training code.
"""

__version__ = "1.0.0"
