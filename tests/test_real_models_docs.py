"""docs/real-models.md stays true: its recordings workflow passes actionlint, its prices are the table's."""

from __future__ import annotations

import re

from promptops.cost import PRICES
from tests.helpers import REPO_ROOT
from tests.test_github import actionlint

DOC = REPO_ROOT / "docs" / "real-models.md"


def test_the_recordings_workflow_in_the_docs_passes_actionlint() -> None:
    text = DOC.read_text("utf-8")
    (block,) = re.findall(r"```yaml\n(# \.github/workflows/promptops-recordings\.yml\n.*?)```", text, re.DOTALL)
    result = actionlint("-", stdin=block)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_price_table_in_the_docs_is_the_built_in_one() -> None:
    rows = re.findall(r"(?<=\| )([a-z][\w.-]+) \| ([\d.]+) \| ([\d.]+) (?=\|)", DOC.read_text("utf-8"))
    documented = {model: (float(i), float(o)) for model, i, o in rows}
    built_in = {m: (p.input_per_mtok, p.output_per_mtok) for m, p in PRICES.items() if m != "mock-llm-v1"}
    assert documented == built_in
