"""Fixtures for the service tests: the shared ones (tests/support/fixtures.py), which the reliability suite
uses too: a small random-weights file, settings for fast CPU runs, one running app per module, the gate."""

from tests.support.fixtures import *  # noqa: F403 - pytest finds fixtures by name in a conftest
