"""The PR report: within GitHub's comment limit with a visible note when cut, valid Markdown, and redacted."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from promptops import report
from promptops.config import load_config
from promptops.evaluators.aggregate import error_rate, summarize, summarize_latency
from promptops.evaluators.base import Score
from promptops.gate import judge
from promptops.model import Diagnostic, GatePolicy, Guardrail
from promptops.report import PromptCheck
from promptops.results import ExperimentResult, ItemResult

POLICY = GatePolicy("exact_match", guardrails=(Guardrail("error_rate", 0.0),), floors={"exact_match": 0.5})
BASE = "main (0123456789ab)"
SOURCE = "local registry at .promptops/registry.db"
FENCE = re.compile(r"^ {0,3}(`{3,})([^`]*)$")
# Fake credentials and personal data, built so no scanner mistakes this file for a leak.
EMAIL = "jane.doe" + "@" + "example.com"
PHONE = "+1 415 555 0132"
CARD = "4111 1111 1111 1111"  # the Visa test number: Luhn-valid
KEY = "sk-" + "Test1" * 5


def item(item_id: str, ok: bool, output: str, expected: str = "Paris") -> ItemResult:
    return ItemResult(
        item_id,
        0,
        {"question": f"Question {item_id}?"},
        expected,
        output,
        None,
        (Score("exact_match", ok, "BOOLEAN"),),
        0.5,
    )


def run(name: str, subject: str, items: list[ItemResult]) -> ExperimentResult:
    p50, p95 = summarize_latency([i.latency_s for i in items])
    metrics = {
        "exact_match": summarize("exact_match", [i.score("exact_match") for i in items], data_type="BOOLEAN"),
        "latency_p50": p50,
        "latency_p95": p95,
        "error_rate": error_rate(sum(i.failed for i in items), len(items)),
    }
    return ExperimentResult(name, subject, None, "faq", "mock-llm-v1", 42, tuple(items), metrics, "run")


def regressed(name: str, outputs: list[str]) -> PromptCheck:
    """Return a changed prompt whose every item got worse: the baseline answered right, the candidate `outputs`."""
    ids = [f"item-{n:02d}" for n in range(len(outputs))]
    baseline = run(name, "version 3 (production)", [item(i, True, "Paris") for i in ids])
    candidate = run(name, "this branch", [item(i, False, out) for i, out in zip(ids, outputs, strict=True)])
    verdict = judge(POLICY, candidate, baseline)
    assert not verdict.passed
    diff = "\n".join(
        [f"--- {name} (base)", f"+++ {name} (this branch)", "@@ -1,12 +1,12 @@"]
        + [f"-Rule {n}: answer in one short sentence about the refund policy." for n in range(12)]
        + [f"+Rule {n}: answer at length, quoting the whole refund policy." for n in range(12)]
    )
    return PromptCheck(name, "changed", "production version 3 from the registry", diff, "create version 4", verdict)


FENCED_DIFF = "\n".join(
    [
        "--- extractor (base)",
        "+++ extractor (this branch)",
        "@@ -1,5 +1,5 @@",
        " Reply with JSON like this:",
        " ```json",
        '-{"city": "Paris"}',
        '+{"city": "Paris", "country": "France"}',
        " ```",
    ]
)


def fenced_prompt() -> PromptCheck:
    """Return a changed prompt whose text holds a code fence of its own (an output-format example)."""
    check = regressed("extractor", ["Lyon"])
    return PromptCheck("extractor", "changed", check.baseline, FENCED_DIFF, check.plan, check.verdict)


def many_prompts(count: int) -> list[PromptCheck]:
    long_output = "The refund policy says that " + "every order can be returned within thirty days " * 4
    return [regressed(f"support/agent-{n:03d}", [long_output] * 10) for n in range(count)]


def markdown(
    prompts: list[PromptCheck], *, limit: int = report.GITHUB_COMMENT_LIMIT, redact_patterns: tuple[str, ...] = ()
) -> str:
    return report.markdown(prompts, (), base=BASE, registry=SOURCE, limit=limit, redact_patterns=redact_patterns)


def open_blocks(text: str) -> list[str]:
    """Return what is still open at the end of `text`: a code fence, and <details> outside code."""
    fence: str | None = None
    details = 0
    for line in text.splitlines():
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
        elif fence is not None:
            if match and match.group(1).startswith(fence) and not match.group(2).strip():
                fence = None
        else:
            details += line.count("<details>") - line.count("</details>")
    return ([f"fence {fence}"] if fence else []) + ["<details>"] * details


def code_blocks(text: str) -> list[list[str]]:
    """Return the lines of every fenced code block in `text`, as a CommonMark renderer sees them."""
    blocks: list[list[str]] = []
    fence: str | None = None
    for line in text.splitlines():
        match = FENCE.match(line)
        if fence is None:
            if match:
                fence = match.group(1)
                blocks.append([])
        elif match and match.group(1).startswith(fence) and not match.group(2).strip():
            fence = None
        else:
            blocks[-1].append(line)
    return blocks


# -- size -----------------------------------------------------------------------------------------------------


def test_report_for_200_changed_prompts_fits_a_comment() -> None:
    prompts = many_prompts(200)
    full = markdown(prompts, limit=10**9)
    assert len(full) > 10 * report.GITHUB_COMMENT_LIMIT  # so the default limit really has to cut

    text = markdown(prompts)
    assert len(text) <= report.GITHUB_COMMENT_LIMIT
    assert text.startswith(
        f"{report.MARKER}\n## promptops check ❌ failed\n\n200 prompt(s) changed, 200 failed the gate.\n"
    )
    assert text.endswith(report.TRUNCATION_NOTE)
    assert text.count(report.TRUNCATION_NOTE) == 1
    assert open_blocks(text[: -len(report.TRUNCATION_NOTE)]) == []  # the note is visible, not swallowed
    assert "### `support/agent-000` (changed)" in text


@pytest.mark.parametrize("limit", range(2_000, 9_000, 173))
def test_a_cut_anywhere_closes_what_it_opened(limit: int) -> None:
    text = markdown([*many_prompts(2), fenced_prompt(), *many_prompts(1)], limit=limit)
    assert len(text) <= limit
    assert text.endswith(report.TRUNCATION_NOTE)
    assert open_blocks(text) == []


def test_short_report_is_not_truncated() -> None:
    prompts = many_prompts(3)
    text = markdown(prompts)
    assert text == markdown(prompts, limit=10**9)
    assert report.TRUNCATION_NOTE not in text
    assert [line for line in text.splitlines() if line.startswith("### `")] == [
        "### `support/agent-000` (changed)",
        "### `support/agent-001` (changed)",
        "### `support/agent-002` (changed)",
    ]
    assert open_blocks(text) == []


def test_validation_errors_are_escaped_and_capped_at_50_rows() -> None:
    message = "type: '<details>' | 'a & b' is not one of ['text', 'chat']"
    errors = [Diagnostic(f"prompts/p{n}.yaml", n + 1, 3, "schema", "error", message) for n in range(60)]
    text = report.markdown((), errors, base=BASE, registry="not reached")
    assert "60 validation error(s): the prompts do not validate, so no experiment ran." in text
    assert "| `prompts/p0.yaml:1:3` | type: '&lt;details>' \\| 'a &amp; b' is not one of ['text', 'chat'] |" in text
    assert open_blocks(text) == []
    assert "| `prompts/p49.yaml:50:3` |" in text
    assert "p50.yaml" not in text
    assert text.endswith("| … | and 10 more |\n")


# -- Markdown structure ---------------------------------------------------------------------------------------


def test_a_prompt_that_contains_a_code_fence_keeps_its_diff_in_one_block() -> None:
    text = markdown([fenced_prompt()])
    assert open_blocks(text) == []
    assert code_blocks(text) == [FENCED_DIFF.splitlines()]


# -- redaction ------------------------------------------------------------------------------------------------


def test_personal_data_and_keys_in_outputs_are_masked() -> None:
    outputs = [f"Mail {EMAIL} today.", f"Call {PHONE} now.", f"Card {CARD} on file.", f"Use key {KEY} here."]
    text = markdown([regressed("support/agent", outputs)])
    for secret in (EMAIL, PHONE, CARD, KEY):
        assert secret not in text
    assert "| Mail [REDACTED email] today. |" in text
    assert "| Call [REDACTED phone] now. |" in text
    assert "| Card [REDACTED card]" in text  # the pattern also eats the space after the number (reported)
    assert "| Use key [REDACTED OpenAI API key] here. |" in text


def test_a_base_commit_of_digits_only_is_shown_while_the_same_digits_elsewhere_are_masked() -> None:
    # One short commit id in about 280 is twelve decimal digits, which the phone pattern matches.
    text = report.markdown(
        [regressed("support/agent", ["Call 371684262770 now."])], (), base="main (371684262770)", registry=SOURCE
    )
    assert "Base: `main (371684262770)`" in text
    assert "| Call [REDACTED phone] now. |" in text


def test_a_number_that_fails_luhn_is_not_a_card() -> None:
    text = markdown([regressed("support/agent", ["Order 4111 1111 1111 1112 shipped."])])
    assert "[REDACTED card]" not in text


def test_a_redact_pattern_from_the_config_is_applied(tmp_path: Path) -> None:
    (tmp_path / "promptops.yaml").write_text('redact:\n  patterns: ["ACME-\\\\d{6}"]\n', "utf-8")
    config = load_config(tmp_path)
    assert config.redact_patterns == (r"ACME-\d{6}",)
    text = markdown(
        [regressed("support/agent", ["Your ticket is ACME-123456."])], redact_patterns=config.redact_patterns
    )
    assert "ACME-123456" not in text
    assert "| Your ticket is [REDACTED]. |" in text
