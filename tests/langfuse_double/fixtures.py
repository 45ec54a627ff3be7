"""Pytest fixture: a fresh LangfuseDouble per test, checked for contract violations at teardown."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.langfuse_double.server import LangfuseDouble


@pytest.fixture
def langfuse_double() -> Iterator[LangfuseDouble]:
    """Start a Langfuse double with unique keys; fail the test if any contract violation was recorded."""
    double = LangfuseDouble().start()
    try:
        yield double
    finally:
        double.stop()
    double.assert_no_violations()
