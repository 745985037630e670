"""Offline side of the project: data, the paper's CNN, training, evaluation and export.

The service imports only :mod:`ml.model`, :mod:`ml.decoding`, :mod:`ml.preprocessing` and
:mod:`ml.gradcam` from here: the same decoder and preprocessing as training, never training code.
"""

__version__ = "1.0.0"
