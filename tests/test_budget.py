"""Budgets through the CLI against the OpenAI double: refused before a run, stopped during one, fail closed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptops.cost import PRICES, cost_usd, format_usd
from tests.helpers import git, git_init, make_project, run_cli
from tests.openai_double.server import OpenAIDouble

GPT = PRICES["gpt-4o-mini"]
LANGFUSE_ENV = ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "LANGFUSE_BASE_URL", "LANGFUSE_HOST")


def real_repo(root: Path, monkeypatch: pytest.MonkeyPatch, *, model: str = "gpt-4o-mini", extra: str = "") -> Path:
    """The example prompts with capital-cities on `model` and `extra` appended to its file, committed on main."""
    make_project(root, examples=True)
    path = root / "prompts" / "capital-cities.yaml"
    text = path.read_text("utf-8").replace("model: mock-llm-v1", f"model: {model}")
    path.write_text(text + extra, "utf-8")
    git_init(root)
    for key in LANGFUSE_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(root)
    return root


def test_an_estimate_above_the_budget_refuses_before_any_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], openai_double: OpenAIDouble
) -> None:
    real_repo(tmp_path / "repo", monkeypatch, extra="budget: {max_usd: 0.001}\n")
    result = run_cli(capsys, "experiment", "capital-cities")
    assert result.code == 1
    estimate = 10 * cost_usd(GPT, 1000, 500)  # 10 items, the stated assumption per call
    assert format_usd(estimate) == "$0.0045"
    assert result.err.splitlines()[-1] == (
        "error: capital-cities: not evaluated: not run: the estimate of $0.0045 is above the budget of $0.0010 "
        "(max_usd in prompts/capital-cities.yaml): 1 run × 10 items × 1 repeat make 10 live calls (0 more replay "
        "from recordings) at gpt-4o-mini 1,000 input and 500 output tokens per call, assumed (no recordings to go "
        "by; set budget.assume_input_tokens and assume_output_tokens). Nothing was promoted or rejected."
    )
    assert openai_double.requests == 0


def test_the_estimate_uses_the_recordings_and_leaves_out_what_they_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], openai_double: OpenAIDouble
) -> None:
    root = real_repo(tmp_path / "repo", monkeypatch)
    assert run_cli(capsys, "experiment", "capital-cities", "--responses", "record").code == 0
    tokens_in, tokens_out = openai_double.billed()
    per_call = (-(-tokens_in // 10), -(-tokens_out // 10))  # the recordings' mean, rounded up
    path = root / "prompts" / "capital-cities.yaml"
    path.write_text(path.read_text("utf-8") + "budget: {max_usd: 0.00000001}\n", "utf-8")
    replayed = run_cli(capsys, "experiment", "capital-cities")  # auto: all 10 are recorded, the estimate is $0
    assert replayed.code == 0, replayed.err
    assert openai_double.completions == 10
    text = path.read_text("utf-8").replace("  You are a helpful", "  Answer in JSON.\n  You are a helpful")
    path.write_text(text, "utf-8")
    refused = run_cli(capsys, "experiment", "capital-cities")
    estimate = cost_usd(GPT, 10 * per_call[0], 10 * per_call[1])
    assert f"the estimate of {format_usd(estimate)} is above the budget of $0.000000" in refused.err
    assert (
        f"at gpt-4o-mini {per_call[0]:,} input and {per_call[1]:,} output tokens per call, as its recordings average"
        in refused.err
    )
    assert openai_double.completions == 10


def budget_repo_one_call_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real-model repository with a $0.00002 budget whose assumption lets one call start, run one at a time."""
    budget = "budget: {max_usd: 0.00002, assume_input_tokens: 1, assume_output_tokens: 1}\n"
    real_repo(tmp_path / "repo", monkeypatch, extra=budget)
    path = Path("prompts/capital-cities.yaml")
    path.write_text(path.read_text("utf-8").replace("  seed: 42\n", "  seed: 42\n  concurrency: 1\n"), "utf-8")


def test_a_run_that_reaches_the_budget_stops_and_the_cost_is_usage_times_price(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], openai_double: OpenAIDouble
) -> None:
    # One call at a time; the assumption lets it start, and three calls (about $0.0000072 each) reach $0.00002.
    budget_repo_one_call_at_a_time(tmp_path, monkeypatch)
    result = run_cli(capsys, "experiment", "capital-cities", "--json")
    assert result.code == 1
    data = json.loads(result.out)
    assert data["stopped"] == "budget"
    tokens_in, tokens_out = openai_double.billed()
    assert openai_double.completions == data["calls"]["live_calls"] == 3
    assert (data["calls"]["input_tokens"], data["calls"]["output_tokens"]) == (tokens_in, tokens_out)
    assert data["cost_usd"] == cost_usd(GPT, tokens_in, tokens_out) == (tokens_in * 0.15 + tokens_out * 0.6) / 1e6
    errors = [item["error"] for item in data["items"]]
    assert errors[:3] == [None, None, None]
    spent = format_usd(data["cost_usd"])
    assert errors[3] == (
        f"model error: the budget of $0.000020 (max_usd in prompts/capital-cities.yaml) was reached: {spent} spent"
    )
    assert errors[4:] == ["not run: budget reached"] * 6
    # With auto, the 3 responses just recorded would set the estimate (and refuse); off takes the assumption.
    text = run_cli(capsys, "experiment", "capital-cities", "--responses", "off")
    lines = text.out.splitlines()
    assert "run stopped early: budget" in lines
    assert lines[lines.index("run stopped early: budget") + 1].startswith("  the budget of $0.000020")


def test_sync_that_reaches_the_budget_promotes_nothing_and_says_what_was_spent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], openai_double: OpenAIDouble
) -> None:
    budget_repo_one_call_at_a_time(tmp_path, monkeypatch)
    git(Path.cwd(), "commit", "-qam", "One call at a time")
    result = run_cli(capsys, "sync", "--json")
    assert result.code == 1
    rows = {row["name"]: row for row in json.loads(result.out)["prompts"]}
    row = rows["capital-cities"]
    tokens_in, tokens_out = openai_double.billed()
    spent = format_usd(cost_usd(GPT, tokens_in, tokens_out))
    assert (row["outcome"], row["release"], row["verdict"]) == ("not-evaluated", None, None)
    assert row["message"] == (
        "capital-cities: not evaluated: the budget of $0.000020 (max_usd in prompts/capital-cities.yaml) was "
        f"reached: {spent} spent during the candidate run (version 1 (candidate)), which stopped there after 3 "
        f"live calls costing {spent}; nothing was promoted or rejected"
    )
    states = {p["name"]: p["status"] for p in json.loads(run_cli(capsys, "status", "--json").out)}
    assert states["capital-cities"] == "pending"
    history = run_cli(capsys, "history", "capital-cities")
    assert "release-1" not in history.out


def test_a_model_without_a_price_fails_closed_under_a_budget_and_runs_once_priced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], openai_double: OpenAIDouble
) -> None:
    root = real_repo(tmp_path / "repo", monkeypatch, model="openai:llama3", extra="budget: {max_usd: 5}\n")
    refused = run_cli(capsys, "experiment", "capital-cities")
    assert refused.code == 1
    assert refused.err.splitlines()[-1] == (
        "error: capital-cities: not evaluated: not run: no price is known for openai:llama3, so the budget of "
        "$5.0000 (max_usd in prompts/capital-cities.yaml) cannot be held; add the price under `prices` in the "
        "project config (USD per million tokens). Nothing was promoted or rejected."
    )
    assert openai_double.requests == 0
    (root / "promptops.yaml").write_text(
        'prompts_dir: prompts\nprices:\n  "openai:llama3": {input: 0.05, output: 0.10}\n', "utf-8"
    )
    priced = run_cli(capsys, "experiment", "capital-cities", "--json")
    assert priced.code == 0, priced.err
    tokens_in, tokens_out = openai_double.billed()
    assert json.loads(priced.out)["cost_usd"] == (tokens_in * 0.05 + tokens_out * 0.10) / 1_000_000


def test_a_project_budget_holds_across_prompts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], openai_double: OpenAIDouble
) -> None:
    root = real_repo(tmp_path / "repo", monkeypatch)
    (root / "promptops.yaml").write_text("prompts_dir: prompts\nbudget: {max_usd: 0.001}\n", "utf-8")
    result = run_cli(capsys, "sync", "--json")
    assert result.code == 1
    rows = {row["name"]: row for row in json.loads(result.out)["prompts"]}
    assert rows["capital-cities"]["outcome"] == "not-evaluated"
    assert "(max_usd in promptops.yaml)" in rows["capital-cities"]["message"]
    assert rows["support-agent"]["outcome"] == "promoted"  # mock-llm-v1 is free, so it fits any budget
    assert openai_double.requests == 0


@pytest.mark.parametrize(
    ("anchor", "added", "message"),
    [
        ("tags:", "budget: {max_usd: 0}\n", "budget.max_usd: 0 is less than or equal to the minimum of 0"),
        ("tags:", "budget: {max_dollars: 1}\n", "budget: 'max_usd' is a required property"),
        ("  primary:", "  decide_on: median\n", "gate.decide_on: 'median' is not one of ['mean', 'lower_bound']"),
    ],
)
def test_budget_and_decide_on_are_checked_by_validate(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    anchor: str,
    added: str,
    message: str,
) -> None:
    root = real_repo(tmp_path / "repo", monkeypatch)
    path = root / "prompts" / "capital-cities.yaml"
    path.write_text(path.read_text("utf-8").replace(anchor, added + anchor, 1), "utf-8")
    result = run_cli(capsys, "validate")
    assert result.code == 1
    assert message in result.out, result.out


def test_config_settings_for_real_models_are_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = real_repo(tmp_path / "repo", monkeypatch)
    (root / "promptops.yaml").write_text("prompts_dir: prompts\nresponses: {mode: always}\n", "utf-8")
    result = run_cli(capsys, "validate")
    assert result.code == 1
    assert "responses.mode: 'always' is not one of ['record', 'replay', 'auto', 'off']" in result.err
