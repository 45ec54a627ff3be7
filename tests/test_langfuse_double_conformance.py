"""The committed contract_schemas.json must equal a fresh derivation from Langfuse's openapi.yml."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.langfuse_double import derive_schemas

SPEC = Path(__file__).resolve().parents[1].parent / "shared" / "langfuse" / "openapi.yml"


def test_committed_schemas_match_a_fresh_derivation() -> None:
    if not SPEC.exists():
        pytest.skip("../shared/langfuse/openapi.yml not present: conformance of the derived schemas not checked")

    derived = derive_schemas.render(derive_schemas.derive(SPEC.read_text(encoding="utf-8")))

    assert derived == derive_schemas.OUTPUT.read_text(encoding="utf-8"), (
        "contract_schemas.json is stale: run `.venv/bin/python -m tests.langfuse_double.derive_schemas`"
    )
