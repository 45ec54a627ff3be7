"""Rendering gate verdicts: the exact terminal text and Markdown of a representative verdict, and escaping."""

from __future__ import annotations

import json
from dataclasses import replace

from promptops.evaluators.aggregate import error_rate, summarize, summarize_latency
from promptops.evaluators.base import Score
from promptops.gate import judge
from promptops.model import GatePolicy, Guardrail
from promptops.results import ExperimentResult, ItemResult
from promptops.verdict import ItemChange, Verdict
from promptops.verdict_render import verdict_json, verdict_markdown, verdict_text

CAPITALS = {"france": "Paris", "peru": "Lima", "italy": "Rome", "spain": "Madrid"}


def item(country: str, ok: bool | None, output: str | None, error: str | None = None) -> ItemResult:
    """Build an item of the capitals dataset; ok None means it failed."""
    scores = () if ok is None else (Score("exact_match", ok, "BOOLEAN"),)
    latency = None if ok is None else 1.0
    return ItemResult(country, 0, {"country": country.title()}, CAPITALS[country], output, error, scores, latency)


def run(items: list[ItemResult], subject: str) -> ExperimentResult:
    p50, p95 = summarize_latency([i.latency_s for i in items])
    metrics = {
        "exact_match": summarize("exact_match", [i.score("exact_match") for i in items], data_type="BOOLEAN"),
        "latency_p50": p50,
        "latency_p95": p95,
        "error_rate": error_rate(sum(i.failed for i in items), len(items)),
    }
    return ExperimentResult("support/agent", subject, None, "capitals", "mock-llm-v1", 42, tuple(items), metrics, "r")


BASELINE = run(
    [
        item("france", True, "Paris"),
        item("peru", False, "Cusco"),
        item("italy", True, "Rome"),
        item("spain", True, "Madrid"),
    ],
    "v3 (production)",
)
CANDIDATE = run(
    [
        item("france", True, "Paris"),
        item("peru", True, "Lima"),
        item("italy", False, "Milan | or\nRome"),
        item("spain", None, None, error="TimeoutError: no answer in 60s"),
    ],
    "working tree",
)
POLICY = GatePolicy("exact_match", guardrails=(Guardrail("latency_p95", 0.5),), floors={"error_rate": 0.25})


def verdict() -> Verdict:
    return judge(POLICY, CANDIDATE, BASELINE)


TEXT = """\
support/agent: REJECTED

metric       better   baseline  candidate    delta
exact_match  higher       0.75       0.50    -0.25
latency_p50  lower   1000.0 ms  1000.0 ms  +0.0 ms
latency_p95  lower   1000.0 ms  1000.0 ms  +0.0 ms
error_rate   lower        0.00       0.25    +0.25

checks:
  ✗ primary    exact_match fell from 0.75 to 0.50 (-0.25)
  ✓ guardrail  latency_p95 stayed at 1000.0 ms (+0.0 ms, lower is better, within max_regression 500.0 ms)
  ✓ floor      error_rate 0.25 is within the floor 0.25 (a maximum: lower is better)

2 items got worse on exact_match:
  italy  1.00 → 0.00 (-1.00)
      input:     {"country": "Italy"}
      expected:  Rome
      baseline:  Rome
      candidate: Milan | or Rome
  spain  1.00 → 0.00 (-1.00)  error: TimeoutError: no answer in 60s
      input:     {"country": "Spain"}
      expected:  Madrid
      baseline:  Madrid
      candidate: —

baseline: v3 (production) · candidate: working tree · dataset: capitals · model: mock-llm-v1 · seed: 42
Candidate rejected: exact_match fell from 0.75 to 0.50 (-0.25).
"""

MARKDOWN = """\
### ❌ support/agent: rejected

Candidate rejected: exact_match fell from 0.75 to 0.50 (-0.25).

| metric | baseline | candidate | delta |
| :-- | --: | --: | --: |
| **exact_match** | 0.75 | 0.50 | -0.25 |
| latency_p50 (lower is better) | 1000.0 ms | 1000.0 ms | +0.0 ms |
| latency_p95 (lower is better) | 1000.0 ms | 1000.0 ms | +0.0 ms |
| error_rate (lower is better) | 0.00 | 0.25 | +0.25 |

| | check | detail |
| :-: | :-- | :-- |
| ❌ | primary | exact_match fell from 0.75 to 0.50 (-0.25) |
| ✅ | guardrail | latency_p95 stayed at 1000.0 ms (+0.0 ms, lower is better, within max_regression 500.0 ms) |
| ✅ | floor | error_rate 0.25 is within the floor 0.25 (a maximum: lower is better) |

<details><summary>2 items got worse on exact_match</summary>

| item | input | expected | baseline output | candidate output | exact_match |
| :-- | :-- | :-- | :-- | :-- | --: |
| italy | {"country": "Italy"} | Rome | Rome | Milan \\| or<br>Rome | 1.00 → 0.00 (-1.00) |
| spain | {"country": "Spain"} | Madrid | Madrid | **error:** TimeoutError: no answer in 60s | 1.00 → 0.00 (-1.00) |

</details>

<sub>baseline: v3 (production) · candidate: working tree · dataset: capitals · model: mock-llm-v1 · seed: 42</sub>
"""


def test_text_golden() -> None:
    assert verdict_text(verdict()) == TEXT


def test_markdown_golden() -> None:
    assert verdict_markdown(verdict()) == MARKDOWN


def test_at_most_max_items_are_shown() -> None:
    text = verdict_text(verdict(), max_items=1)
    assert "  italy  1.00 → 0.00 (-1.00)\n" in text
    assert "spain" not in text
    assert "\n  … and 1 more\n" in text
    markdown = verdict_markdown(verdict(), max_items=1)
    assert "| italy |" in markdown
    assert "spain" not in markdown
    assert "| 1.00 → 0.00 (-1.00) |\n\n… and 1 more\n\n</details>\n" in markdown
    none_shown = verdict_markdown(verdict(), max_items=0)
    assert "<summary>2 items got worse on exact_match</summary>\n\n… and 2 more\n\n</details>" in none_shown


def test_markdown_cells_are_escaped_and_truncated() -> None:
    nasty = "a|b\r\nc</details>`x` \\| & " + "z" * 300
    change = ItemChange("q|1", 0, {"k": "v|w"}, "x\ny", "ok", nasty, 1.0, 0.0, -1.0, "Err: <b>|</b>")
    markdown = verdict_markdown(replace(verdict(), worse_items=(change,)))
    (row,) = [line for line in markdown.splitlines() if line.startswith("| q")]
    cells = row.split(" | ")
    assert cells[:4] == ["| q\\|1", '{"k": "v\\|w"}', "x<br>y", "ok"]
    # 25 characters before the z's, so 175 z's reach the 200-character cut.
    expected = "a\\|b<br>c&lt;/details>&#96;x&#96; &#92;\\| &amp; " + "z" * 175 + "…"
    assert cells[4] == expected + "<br>**error:** Err: &lt;b>\\|&lt;/b>"
    assert row.count("|") - row.count("\\|") == 7  # the row still has exactly six cells
    assert "</details>" not in markdown.replace("\n</details>", "")  # the only closing tag is ours


def test_passing_verdict_without_baseline() -> None:
    passed = judge(GatePolicy("exact_match", floors={"exact_match": 0.5}), CANDIDATE, None)
    markdown = verdict_markdown(passed)
    assert markdown.startswith(
        "### ✅ support/agent: passed\n\n"
        "Candidate passed on floors only (no production baseline yet): exact_match 0.50 meets the floor 0.50.\n"
    )
    assert "| **exact_match** | — | 0.50 | — |" in markdown
    assert "<details>" not in markdown
    assert markdown.endswith(
        "<sub>baseline: none (no production version yet) · candidate: working tree · dataset: capitals · "
        "model: mock-llm-v1 · seed: 42</sub>\n"
    )
    text = verdict_text(passed)
    assert text.startswith("support/agent: PASSED\n")
    assert "got worse" not in text
    assert text.endswith(
        "Candidate passed on floors only (no production baseline yet): exact_match 0.50 meets the floor 0.50.\n"
    )


def test_no_worse_items_says_so() -> None:
    same = judge(GatePolicy("exact_match", policy="no_regression"), BASELINE, BASELINE)
    assert "\nno item got worse on exact_match\n" in verdict_text(same)
    assert "\nNo item got worse on exact_match.\n" in verdict_markdown(same)


def test_json_is_the_verdicts_dict() -> None:
    data = verdict_json(verdict())
    assert data == verdict().to_dict()
    assert json.loads(json.dumps(data)) == data
    assert [i["item_id"] for i in data["worse_items"]] == ["italy", "spain"]
    assert data["reason"] == "Candidate rejected: exact_match fell from 0.75 to 0.50 (-0.25)."
