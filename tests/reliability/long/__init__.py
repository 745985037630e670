"""Long runs of the reliability suite, as scripts that pytest does not collect.

``python -m tests.reliability.long.fuzz`` and ``python -m tests.reliability.long.soak`` each start their own
server on 127.0.0.1 and print their figures.
"""
