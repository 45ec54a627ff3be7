"""Real-model gating end to end: the CLI, the real openai SDK and the loopback OpenAI double, on real git repos.

Record once, stop the double, replay: the same verdicts with no request and no cost. The PR gate replays the
baseline main recorded; without a key (a fork PR) the candidate is "not evaluated", never passed or rejected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from promptops.cost import PRICES, cost_usd
from tests.helpers import Run, git, git_init, make_project, run_cli
from tests.openai_double.server import OpenAIDouble

BETTER = "  Answer with only the city name.\n"
QUESTION = "  Question: What is the capital of {{ country }}?\n"
LANGFUSE_ENV = ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "LANGFUSE_BASE_URL", "LANGFUSE_HOST")
GPT = PRICES["gpt-4o-mini"]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, openai_double: OpenAIDouble) -> Path:
    """The example prompts on `main` with capital-cities on gpt-4o-mini (served by the double), no registry."""
    root = make_project(tmp_path / "repo", examples=True)
    path = root / "prompts" / "capital-cities.yaml"
    path.write_text(path.read_text("utf-8").replace("model: mock-llm-v1", "model: gpt-4o-mini"), "utf-8")
    git_init(root)
    for key in (*LANGFUSE_ENV, "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(root)
    return root


def improve(root: Path) -> None:
    """On a new branch `pr`, commit capital-cities asking for only the city name (exact_match 0 -> 1)."""
    git(root, "checkout", "-qb", "pr")
    path = root / "prompts" / "capital-cities.yaml"
    path.write_text(path.read_text("utf-8").replace(QUESTION, BETTER + QUESTION), "utf-8")
    git(root, "commit", "-qam", "Ask for only the city name")


def check_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[Run, dict[str, Any]]:
    result = run_cli(capsys, "check", "--base", "main", "--format", "json", *args)
    assert "Traceback" not in result.err
    return result, json.loads(result.out)


def only(data: dict[str, Any]) -> dict[str, Any]:
    (prompt,) = data["prompts"]
    return dict(prompt)


def decided(verdict: dict[str, Any]) -> dict[str, Any]:
    """Return what the gate decided, without latencies (they measure the machine) and without cost."""
    rows = [m for m in verdict["metrics"] if not m["name"].startswith("latency")]
    return {k: verdict[k] for k in ("passed", "reason", "checks", "worse_items")} | {"metrics": rows}


def recordings(root: Path, prompt: str = "capital-cities") -> list[Path]:
    return sorted((root / "prompts" / "_responses" / prompt).glob("*.json"))


def test_record_stop_the_model_replay_same_verdict_no_request_no_cost(
    repo: Path, capsys: pytest.CaptureFixture[str], openai_double: OpenAIDouble
) -> None:
    improve(repo)
    recorded_run, recorded = check_json(capsys, "--responses", "record")
    assert recorded_run.code == 0, recorded_run.err
    verdict = only(recorded)["verdict"]
    assert verdict["passed"] is True
    assert openai_double.completions == 20  # 10 items for the candidate, 10 for the baseline
    assert len(recordings(repo)) == 20
    tokens_in, tokens_out = openai_double.billed()
    cost = verdict["cost"]
    assert cost["total_usd"] == cost["candidate"]["cost_usd"] + cost["baseline"]["cost_usd"]
    assert cost["candidate"]["input_tokens"] + cost["baseline"]["input_tokens"] == tokens_in
    assert (cost["candidate"]["live_calls"], cost["baseline"]["live_calls"]) == (10, 10)

    openai_double.stop()
    requests = openai_double.requests
    replayed_run, replayed = check_json(capsys, "--responses", "replay")
    assert replayed_run.code == 0, replayed_run.err
    again = only(replayed)["verdict"]
    assert decided(again) == decided(verdict)
    assert openai_double.requests == requests  # nothing reached the (stopped) server
    assert again["cost"]["total_usd"] == 0.0
    assert [again["cost"][r]["replayed_calls"] for r in ("candidate", "baseline")] == [10, 10]
    assert [again["cost"][r]["live_calls"] for r in ("candidate", "baseline")] == [0, 0]


def test_cost_in_the_verdict_is_usage_times_price(
    repo: Path, capsys: pytest.CaptureFixture[str], openai_double: OpenAIDouble
) -> None:
    improve(repo)
    _, data = check_json(capsys, "--responses", "off")
    tokens_in, tokens_out = openai_double.billed()
    cost = only(data)["verdict"]["cost"]
    spent = [cost[r] for r in ("candidate", "baseline")]
    assert sum(s["input_tokens"] for s in spent) == tokens_in and sum(s["output_tokens"] for s in spent) == tokens_out
    for stats in spent:
        assert stats["cost_usd"] == cost_usd(GPT, stats["input_tokens"], stats["output_tokens"])
        assert stats["cost_usd"] == (stats["input_tokens"] * 0.15 + stats["output_tokens"] * 0.60) / 1_000_000
    assert recordings(repo) == []  # off neither reads nor writes


def test_the_pr_comment_and_the_text_output_show_the_cost(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    improve(repo)
    report = tmp_path / "report.md"
    result = run_cli(capsys, "check", "--base", "main", "--report", str(report), "--responses", "auto")
    assert result.code == 0, result.err
    markdown = report.read_text("utf-8")
    cost_lines = [line for line in markdown.splitlines() if line.startswith("Model cost of this check: **$")]
    assert cost_lines == [next(line for line in markdown.splitlines() if line.startswith("Model cost"))]
    assert "(20 live calls, 0 replayed at no cost)" in cost_lines[0]
    assert "- candidate: cost $" in markdown and "(10 live calls; " in markdown
    assert any(line.startswith("Model cost of this check: $") for line in result.out.splitlines())
    assert "model calls:" in result.out.splitlines()


def test_main_records_the_pr_gate_replays_the_baseline_and_calls_only_for_the_candidate(
    repo: Path, capsys: pytest.CaptureFixture[str], openai_double: OpenAIDouble
) -> None:
    recorded = run_cli(capsys, "experiment", "capital-cities", "--responses", "record")
    assert recorded.code == 0, recorded.err
    assert "model calls: cost $" in recorded.out
    git(repo, "add", "prompts/_responses")
    git(repo, "commit", "-qm", "Record capital-cities on gpt-4o-mini")
    before = openai_double.completions
    improve(repo)
    result, data = check_json(capsys)  # the default mode: auto
    assert result.code == 0, result.err
    cost = only(data)["verdict"]["cost"]
    assert (cost["baseline"]["replayed_calls"], cost["baseline"]["live_calls"], cost["baseline"]["cost_usd"]) == (
        10,
        0,
        0.0,
    )
    assert cost["candidate"]["live_calls"] == 10 == openai_double.completions - before
    assert len(recordings(repo)) == 20  # auto kept the candidate's responses, ready to commit with the PR


def test_a_fork_pr_without_a_key_replays_the_baseline_and_is_not_evaluated(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert run_cli(capsys, "experiment", "capital-cities", "--responses", "record").code == 0
    git(repo, "add", "prompts/_responses")
    git(repo, "commit", "-qm", "Record capital-cities on gpt-4o-mini")
    improve(repo)
    monkeypatch.delenv("OPENAI_API_KEY")
    result, data = check_json(capsys, "--report", str(tmp_path / "report.md"))
    assert result.code == 1
    prompt = only(data)
    assert (prompt["passed"], prompt["evaluated"], prompt["verdict"]) == (False, False, None)
    assert prompt["note"] == (
        "the candidate run (this branch) could not call gpt-4o-mini here (gpt-4o-mini needs an API key: set "
        "OPENAI_API_KEY; none of its calls had a recording; a pull request from a fork gets no secrets). The "
        "baseline run (base ref) replayed 10 calls from recordings. It can run here with mock-llm-v1 "
        "(`experiment.model: mock-llm-v1`), or where the key is set: record its responses with `promptops check "
        "--responses record` and commit them. Nothing was promoted or rejected."
    )
    markdown = (tmp_path / "report.md").read_text("utf-8")
    assert "| `capital-cities` | changed | ⚠️ not evaluated |" in markdown
    assert "1 prompt(s) changed, 1 failed the gate (1 of them not evaluated)." in markdown
    text = run_cli(capsys, "check", "--base", "main")
    assert text.out.splitlines()[0].startswith("capital-cities: NOT EVALUATED: the candidate run (this branch)")


def test_replay_misses_fail_their_items_with_how_to_record(
    repo: Path, capsys: pytest.CaptureFixture[str], openai_double: OpenAIDouble
) -> None:
    result = run_cli(capsys, "experiment", "capital-cities", "--responses", "replay", "--json")
    assert result.code == 1  # every item failed, so the failure threshold stopped the run
    data = json.loads(result.out)
    first = data["items"][0]
    assert first["error"] == (
        f"model error: no recorded response for capital-cities item {first['id']} repeat 0 (task) with gpt-4o-mini "
        "in prompts/_responses: record it with `promptops experiment capital-cities --responses record` (or run "
        "with --responses auto) where OPENAI_API_KEY is set"
    )
    assert openai_double.requests == 0
    missed = [i for i in data["items"] if (i["error"] or "").startswith("model error: no recorded response")]
    assert data["calls"]["missing"] == len(missed) >= 5 and data["calls"]["replayed_calls"] == 0


def test_sync_without_a_key_decides_nothing_and_the_version_stays_pending(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    result = run_cli(capsys, "sync", "--json")
    assert result.code == 1
    rows = {row["name"]: row for row in json.loads(result.out)["prompts"]}
    row = rows["capital-cities"]
    assert (row["outcome"], row["version"], row["release"], row["verdict"]) == ("not-evaluated", 1, None, None)
    assert row["message"].startswith(
        "capital-cities: not evaluated: the candidate run (version 1 (candidate)) could not call gpt-4o-mini here"
    )
    assert rows["support-agent"]["outcome"] == "promoted"  # the mock prompt is judged as always
    status = run_cli(capsys, "status", "--json")
    states = {p["name"]: p["status"] for p in json.loads(status.out)}
    assert states["capital-cities"] == "pending"  # not rejected: the next sync with a key judges it


def test_mock_responses_are_never_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_project(tmp_path / "repo", examples=True)
    git_init(root)
    monkeypatch.chdir(root)
    assert run_cli(capsys, "experiment", "capital-cities", "--responses", "record").code == 0
    assert not (root / "prompts" / "_responses").exists()
    result = run_cli(capsys, "experiment", "capital-cities", "--responses", "replay")
    assert result.code == 0 and "model calls" not in result.out  # free, instant and exact: nothing to show


def test_repeats_of_a_noisy_model_are_recorded_apart_and_replay_to_the_same_statistics(
    repo: Path, capsys: pytest.CaptureFixture[str], openai_double: OpenAIDouble
) -> None:
    path = repo / "prompts" / "capital-cities.yaml"
    text = (
        path.read_text("utf-8")
        .replace("temperature: 0", "temperature: 0.8")
        .replace("  seed: 42\n", "  seed: 42\n  repeats: 3\n")
    )
    path.write_text(
        text.replace("  primary: exact_match\n", "  primary: exact_match\n  decide_on: lower_bound\n"), "utf-8"
    )
    git(repo, "commit", "-qam", "A noisy model, three repeats, gated on the lower bound")
    improve(repo)
    first_run, first = check_json(capsys, "--responses", "record")
    assert first_run.code in (0, 1), first_run.err
    assert len(recordings(repo)) == 60  # 10 items × 3 repeats × (candidate, baseline): repeats are separate draws
    verdict = only(first)["verdict"]
    stats = {(s["metric"], s["run"]): s for s in verdict["statistics"]}
    candidate = stats[("exact_match", "candidate")]
    assert (candidate["k"], candidate["items"], candidate["trials"]) == (3, 10, 30)
    assert [c["kind"] for c in verdict["checks"]].count("interval") == 2  # the gain, and the floor on mentions_capital
    openai_double.stop()
    _, again = check_json(capsys, "--responses", "replay")
    replayed = only(again)["verdict"]
    assert replayed["statistics"] == verdict["statistics"] and decided(replayed) == decided(verdict)


def test_a_mistyped_model_option_fails_before_any_item_even_where_recordings_could_answer(
    repo: Path, capsys: pytest.CaptureFixture[str], openai_double: OpenAIDouble
) -> None:
    path = repo / "prompts" / "capital-cities.yaml"
    path.write_text(path.read_text("utf-8").replace("  seed: 42\n", "  seed: 42\n  model_options: {timeout: 5}\n"))
    result = run_cli(capsys, "experiment", "capital-cities")  # auto mode
    assert result.code == 1
    assert result.err.splitlines()[-1] == "error: gpt-4o-mini: unknown option timeout; known options: timeout_s"
    assert openai_double.requests == 0


def test_the_html_and_junit_reports_fail_a_prompt_that_was_not_evaluated(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    improve(repo)
    monkeypatch.delenv("OPENAI_API_KEY")
    junit = tmp_path / "check.xml"
    result = run_cli(capsys, "check", "--base", "main", "--junit", str(junit), "--html", str(tmp_path / "r.html"))
    assert result.code == 1
    text = junit.read_text("utf-8")
    assert 'failures="1"' in text and "<skipped" not in text
    assert "could not call gpt-4o-mini here" in text
