"""What the test suites and the benchmark share, defined once.

- :mod:`tests.support.app`: the real app in-process (lifespan included), and a gate that holds its worker.
- :mod:`tests.support.live`: the real server on 127.0.0.1, as ``python -m service`` or in a thread.
- :mod:`tests.support.load`: the load generator (closed and open loops, two ways to send).
- :mod:`tests.support.stats`: percentiles.
- :mod:`tests.support.images`: tiny PNG, JPEG and DICOM images built on the fly (never a real X-ray).
- :mod:`tests.support.weights`: a small random-weights file and its preprocessing.
- :mod:`tests.support.fixtures`: the pytest fixtures the service and reliability suites both use.
- :mod:`tests.support.problems`: what a problem+json answer must look like.

Test modules import from here, never from one another or from a conftest.
"""
