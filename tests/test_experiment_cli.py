"""`promptops experiment`: reproducible numbers with the mock, wording moves them as docs/mock-llm.md says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from promptops.tracing.local import LocalTracer
from tests.helpers import example_repo, git, run_cli

ONLY_CITY = "  Answer with only the city name.\n"
QUESTION = "  Question: What is the capital of {{ country }}?\n"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return example_repo(tmp_path / "repo", monkeypatch)


def experiment(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    result = run_cli(capsys, "experiment", *args, "--json")
    assert result.code == 0, result.err
    data: dict[str, Any] = json.loads(result.out)
    return data


def means(data: dict[str, Any]) -> dict[str, float]:
    """Evaluator means (latency with the mock is its simulated one, 0 unless model_options set it)."""
    return {name: m["mean"] for name, m in data["metrics"].items() if not name.startswith("latency")}


def test_same_numbers_every_run(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = repo / "prompts" / "capital-cities.yaml"
    options = "  model_options: {latency_ms: 40, latency_jitter_ms: 20}\n"
    path.write_text(path.read_text().replace("  model: mock-llm-v1\n", "  model: mock-llm-v1\n" + options))
    first, second = experiment(capsys, "capital-cities"), experiment(capsys, "capital-cities")
    assert first["metrics"] == second["metrics"]  # latency included: the mock's is simulated, not wall time
    assert 0.04 <= first["metrics"]["latency_p50"]["mean"] <= first["metrics"]["latency_p95"]["mean"] < 0.06
    assert (
        means(first)
        == means(second)
        == {
            "exact_match": 0.0,
            "mentions_capital": 1.0,
            "answer_length": 31.3,
            "error_rate": 0.0,
        }
    )
    assert [i["output"] for i in first["items"]] == [i["output"] for i in second["items"]]
    assert first["items"][0] == {
        "id": "france",
        "repeat": 0,
        "output": "The capital of France is Paris.",
        "error": None,
        "scores": {"exact_match": False, "mentions_capital": True, "answer_length": 31.0},
    }


def test_only_the_city_name_makes_exact_match_perfect(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = repo / "prompts" / "capital-cities.yaml"
    path.write_text(path.read_text().replace(QUESTION, ONLY_CITY + QUESTION))
    data = experiment(capsys, "capital-cities")
    assert means(data)["exact_match"] == 1.0
    assert [i["output"] for i in data["items"]][:3] == ["Paris", "Berlin", "Tokyo"]


def test_runs_are_recorded_locally_with_spans_and_scores(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = experiment(capsys, "support-agent")
    tracer = LocalTracer(repo / ".promptops" / "runs.db")
    (run,) = tracer.runs("support-agent")
    assert run.id == data["run_id"]
    items = tracer.items(run.id)
    assert len(items) == 9
    spans = [s.name for s in tracer.spans(items[0].trace_id)]
    assert spans[1:] == ["retrieve", "rank", "prompt-managed-call"]
    kinds = {s.name: s.data_type for s in tracer.scores(trace_id=items[0].trace_id)}
    assert kinds == {"groundedness": "NUMERIC", "user_feedback": "CATEGORICAL", "resolved": "BOOLEAN"}


def test_a_registry_version_by_number_and_label(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "sync").code == 0
    path = repo / "prompts" / "capital-cities.yaml"
    path.write_text(path.read_text().replace(QUESTION, ONLY_CITY + QUESTION))
    git(repo, "commit", "-qam", "only the city")
    assert run_cli(capsys, "sync").code == 0
    by_label = experiment(capsys, "capital-cities", "--label", "production")
    by_version = experiment(capsys, "capital-cities", "--version", "1")
    assert (by_label["version"], by_label["subject"]) == (2, "version 2 (production)")
    assert (means(by_label)["exact_match"], means(by_version)["exact_match"]) == (1.0, 0.0)


def test_conflicting_subject_options_are_a_usage_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "experiment", "capital-cities", "--version", "1", "--label", "production")
    assert result.code == 64
    assert "give at most one of --version, --label and --working-tree" in result.err


def test_unknown_version_is_a_one_line_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "sync").code == 0
    result = run_cli(capsys, "experiment", "capital-cities", "--version", "9")
    assert result.code == 1
    assert result.err.splitlines() == [
        "registry: local registry at .promptops/registry.db",
        "error: prompt 'capital-cities' has no version 9 (1 version(s), the newest is 1)",
    ]


def test_an_invalid_unrelated_prompt_does_not_block_the_experiment(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "prompts" / "broken.yaml").write_text("prompt: '{{ nope }}'\n", "utf-8")
    assert means(experiment(capsys, "capital-cities"))["exact_match"] == 0.0
    refused = run_cli(capsys, "experiment", "broken")
    assert refused.code == 1
    assert "prompts/broken.yaml:1: 'nope' is not defined" in refused.err


def test_a_raising_evaluator_from_the_project_root_fails_the_run_and_says_so(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Imported from the project root without PYTHONPATH=. (console scripts do not have the cwd on sys.path).
    module = f"raising_{repo.parent.name.replace('-', '_')}"
    (repo / f"{module}.py").write_text("def score(output):\n    raise ValueError('no capital table')\n", "utf-8")
    path = repo / "prompts" / "capital-cities.yaml"
    contains = "    - type: contains\n      name: mentions_capital\n"
    text = path.read_text().replace(contains, f"    - type: '{module}:score'\n      name: mentions_capital\n")
    path.write_text(text.replace("  seed: 42\n", "  seed: 42\n  max_failure_rate: 1.0\n"))  # every item runs
    result = run_cli(capsys, "experiment", "capital-cities")
    assert result.code == 1, result.err
    lines = result.out.splitlines()
    assert "10 of 10 item(s) failed:" in lines
    assert "  ×10  evaluator error: mentions_capital: ValueError: no capital table" in lines
    assert "worst items (5 of 10 that failed or scored false):" in lines
    assert "run stopped early" not in result.out  # exit 1 because nothing was measured, not because it stopped


def test_worst_items_lists_only_items_that_failed_or_scored_false(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = repo / "prompts" / "capital-cities.yaml"
    path.write_text(path.read_text().replace(QUESTION, ONLY_CITY + QUESTION))
    result = run_cli(capsys, "experiment", "capital-cities")
    assert result.code == 0
    assert result.out.splitlines()[-1] == "no item failed or scored false"
    assert "worst items" not in result.out
    assert "latency_p50             0.0 ms          —    10       0" in result.out.splitlines()  # with its unit
