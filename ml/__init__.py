"""Offline side of the project: data, the paper's CNN, training, evaluation, export and the studies that
chose its settings (:mod:`ml.studies`).

The service imports only :mod:`ml.model`, :mod:`ml.engine`, :mod:`ml.decoding`, :mod:`ml.preprocess_spec`,
:mod:`ml.preprocessing_np`, :mod:`ml.classes` and :mod:`ml.device` from here: the same decoder,
preprocessing and device choice as training, never training code, and no torch unless the torch engine is
asked for.
"""

__version__ = "1.0.0"
