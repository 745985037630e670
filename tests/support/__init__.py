"""What the test suites share, defined once (what the benchmark shares with them is :mod:`harness`).

- :mod:`tests.support.app`: the real app in-process (lifespan included), and a gate that holds its worker.
- :mod:`tests.support.images`: tiny PNG, JPEG and DICOM images built on the fly (never a real X-ray).
- :mod:`tests.support.weights`: a small random-weights file and its preprocessing.
- :mod:`tests.support.monitor`: a source-shift monitor whose verdict is chosen, for those weights.
- :mod:`tests.support.fixtures`: the pytest fixtures the service and reliability suites both use.
- :mod:`tests.support.problems`: what a problem+json answer must look like.
- :mod:`tests.support.spies`: recording what the request path calls, and forbidding it to decode.

Test modules import from here and from :mod:`harness` (the live server, the load generator,
percentiles), never from one another or from a conftest.
"""
