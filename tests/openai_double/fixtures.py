"""Pytest fixture: a fresh OpenAIDouble per test, with OPENAI_API_KEY and OPENAI_BASE_URL pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.openai_double.server import OpenAIDouble


@pytest.fixture
def openai_double(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIDouble]:
    """Start the double and point the OpenAI provider at it; stopped at teardown."""
    double = OpenAIDouble().start()
    monkeypatch.setenv("OPENAI_API_KEY", double.api_key)
    monkeypatch.setenv("OPENAI_BASE_URL", double.base_url)
    try:
        yield double
    finally:
        double.stop()
