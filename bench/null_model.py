"""``python -m bench.null_model [--host H] [--port P]``: the service with its model replaced by a stub.

The stub answers every batch at once, with fixed probabilities, a fixed Grad-CAM map of the real map's
shape and a fixed assessment, so what is measured is the request path's own ceiling: HTTP, reading,
decoding, preprocessing, the overlay and its PNG, JSON, and the hand-offs to and from the inference thread.
The weights are still loaded (the pipeline needs their preprocessing); they are never run. The benchmark's
only; nothing in the service knows of it.

The stub is installed when this module is imported, not only when it runs: with ``CXR_WORKERS`` > 1 every
worker process is started by ``spawn``, which imports the main module again (as ``__mp_main__``) before
the worker's own code runs, so each worker gets the stub too.
"""

from __future__ import annotations

import sys

import numpy as np

from ml.model.assessment import Assessment
from service.__main__ import main
from service.runner import Answer, ModelRunner, WorkItem

_FEATURE_STRIDE = 8
"""The classifier's feature map is 1/8 of its input per side (three 2x2 poolings)."""

ASSESSMENT = Assessment(
    in_scope=True,
    uncertain=False,
    reasons=(),
    scores={"chest_xray": 1.0, "typicality": 0.5, "confidence": 0.5},
)


def stub_cam(side: int) -> np.ndarray:
    """A smooth blob in [0, 1]: the overlay does the same work as for a real map."""
    axis = np.linspace(-1.0, 1.0, side, dtype=np.float32)
    blob: np.ndarray = np.exp(-2.0 * (axis[:, None] ** 2 + axis[None, :] ** 2)).astype(np.float32)
    return blob


def stub_run(runner: ModelRunner, items: list[WorkItem], with_cam: list[bool]) -> list[Answer]:
    classes = len(runner.metadata.classes)
    cam = stub_cam(max(1, runner.metadata.preprocessing.crop // _FEATURE_STRIDE))
    probabilities = (0.5, *([0.5 / (classes - 1)] * (classes - 1)))
    assert len(items) == len(with_cam)
    return [Answer(probabilities, 0, cam.copy() if wanted else None, ASSESSMENT) for wanted in with_cam]


def install() -> None:
    # Assigned on the class: the worker thread calls ModelRunner.run on whatever runner it was given.
    ModelRunner.run = stub_run  # type: ignore[method-assign,assignment]


install()

if __name__ == "__main__":
    sys.exit(main())
