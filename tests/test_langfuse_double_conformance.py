"""The committed contract_schemas.json must equal a fresh derivation from Langfuse's openapi.yml.

A maintainers' cross-check: it needs a copy of Langfuse's OpenAPI contract, which this repository does not
ship (web/public/generated/api/openapi.yml in the Langfuse server's repository). Point LANGFUSE_OPENAPI_YML at
one to run it; the project's own development setup keeps a copy beside the checkout, where it is found too.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.langfuse_double import derive_schemas

BESIDE_THE_CHECKOUT = Path(__file__).resolve().parents[1].parent / "shared" / "langfuse" / "openapi.yml"
SKIP_REASON = (
    "optional maintainers' check, nothing is wrong: set LANGFUSE_OPENAPI_YML to a copy of Langfuse's openapi.yml "
    "to compare tests/langfuse_double/contract_schemas.json with a fresh derivation"
)


def openapi_spec() -> Path | None:
    """Return Langfuse's openapi.yml: LANGFUSE_OPENAPI_YML, else the development setup's copy, else None."""
    given = os.environ.get("LANGFUSE_OPENAPI_YML")
    candidate = Path(given) if given else BESIDE_THE_CHECKOUT
    return candidate if candidate.is_file() else None


def test_committed_schemas_match_a_fresh_derivation() -> None:
    spec = openapi_spec()
    if spec is None:
        pytest.skip(SKIP_REASON)

    derived = derive_schemas.render(derive_schemas.derive(spec.read_text(encoding="utf-8")))

    assert derived == derive_schemas.OUTPUT.read_text(encoding="utf-8"), (
        "contract_schemas.json is stale: run `.venv/bin/python -m tests.langfuse_double.derive_schemas`"
    )


def test_the_skip_reason_speaks_of_nothing_outside_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGFUSE_OPENAPI_YML", "/nonexistent/openapi.yml")
    assert openapi_spec() is None  # a new user's machine: the check skips with SKIP_REASON
    assert ".." not in SKIP_REASON and "shared" not in SKIP_REASON
