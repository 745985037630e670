"""What the tests and the benchmark share for driving a running service, importable by both.

- :mod:`harness.live`: the real server on 127.0.0.1, as ``python -m service``.
- :mod:`harness.threaded`: the same server in a thread of this process.
- :mod:`harness.load`: the load generator (closed and open loops, two ways to send).
- :mod:`harness.stats`: percentiles.

It imports from ``service`` but never from ``tests`` or ``bench``.
"""
