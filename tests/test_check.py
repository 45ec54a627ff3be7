"""`promptops check` on real git repositories: verdicts, the report, the merge-base, and no registry writes."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from promptops import report
from tests.helpers import Run, git, git_init, make_project, run_cli
from tests.langfuse_double.server import LangfuseDouble

BETTER = "  Answer with only the city name.\n"
WORSE = "  Answer in JSON.\n"
QUESTION = "  Question: What is the capital of {{ country }}?\n"
CAPITALS = {
    "australia": ("Australia", "Canberra"),
    "canada": ("Canada", "Ottawa"),
    "egypt": ("Egypt", "Cairo"),
    "france": ("France", "Paris"),
    "germany": ("Germany", "Berlin"),
    "italy": ("Italy", "Rome"),
    "japan": ("Japan", "Tokyo"),
    "kenya": ("Kenya", "Nairobi"),
    "peru": ("Peru", "Lima"),
    "spain": ("Spain", "Madrid"),
}
LANGFUSE_ENV = ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "LANGFUSE_BASE_URL", "LANGFUSE_HOST")
FORK_SOURCE = "the base ref main (no registry: no credentials and no local registry file)"
LOCAL_SOURCE = "local registry at .promptops/registry.db"
PROMPT_WRITES = "/api/public/v2/prompts*"  # creating versions (POST) and moving labels (PATCH)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository on `main` with the example prompts, no registry and no credentials (a fork PR)."""
    root = make_project(tmp_path / "repo", examples=True)
    git_init(root)
    for key in (*LANGFUSE_ENV, "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(root)
    return root


def set_instruction(root: Path, line: str, message: str) -> None:
    """Commit capital-cities with `line` (BETTER, WORSE or "") as its only instruction before the question."""
    path = root / "prompts" / "capital-cities.yaml"
    plain = path.read_text("utf-8").replace(BETTER, "").replace(WORSE, "")
    path.write_text(plain.replace(QUESTION, line + QUESTION), "utf-8")
    git(root, "commit", "-qam", message)


def branch(root: Path, name: str = "pr") -> None:
    git(root, "checkout", "-qb", name)


def check(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    result = run_cli(capsys, "check", "--base", "main", *args)
    assert "Traceback" not in result.err
    return result


def check_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    result = check(capsys, "--format", "json", *args)
    return result.code, json.loads(result.out)


def only_prompt(data: dict[str, Any]) -> dict[str, Any]:
    """Return the single prompt of a check's JSON, failing if there is not exactly one."""
    prompts: list[dict[str, Any]] = data["prompts"]
    assert len(prompts) == 1, [p["name"] for p in prompts]
    return prompts[0]


def metrics(prompt: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Return {metric: (baseline, candidate)} without the latencies, which measure the machine, not the prompt."""
    rows = prompt["verdict"]["metrics"]
    return {m["name"]: (m["baseline"], m["candidate"]) for m in rows if not m["name"].startswith("latency")}


def judged(prompt: dict[str, Any]) -> dict[str, Any]:
    """Return what the gate decided, without where the baseline came from and without latencies."""
    verdict = prompt["verdict"]
    return {
        "passed": verdict["passed"],
        "reason": verdict["reason"],
        "checks": verdict["checks"],
        "worse_items": verdict["worse_items"],
        "metrics": metrics(prompt),
    }


def sync(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "sync", "--json")
    assert result.code == 0, result.err


# -- improved and regressed prompts ------------------------------------------------------------------------------


def test_improved_prompt_passes_with_report_and_step_summary(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    branch(repo)
    set_instruction(repo, BETTER, "Ask for only the city name")

    code, data = check_json(capsys)
    assert code == 0
    assert data["passed"] is True
    assert data["baseline_source"] == FORK_SOURCE
    prompt = only_prompt(data)
    assert (prompt["name"], prompt["status"], prompt["passed"]) == ("capital-cities", "changed", True)
    assert metrics(prompt) == {
        "exact_match": (0.0, 1.0),
        "mentions_capital": (1.0, 1.0),
        "answer_length": (31.3, 5.6),
        "error_rate": (0.0, 0.0),
    }
    assert [(c["kind"], c["passed"]) for c in prompt["verdict"]["checks"]] == [
        ("primary", True),
        ("guardrail", True),
        ("floor", True),
    ]
    assert prompt["verdict"]["worse_items"] == []

    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n", "utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = check(capsys, "--report", str(tmp_path / "report.md"))
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == "capital-cities: PASSED"
    assert lines[-1] == "check passed: 1 changed prompt(s)"
    assert "  ✓ primary    exact_match improved from 0.00 to 1.00 (+1.00 > min_delta 0.00)" in lines
    assert "baseline source: " + FORK_SOURCE in result.err.splitlines()

    markdown = (tmp_path / "report.md").read_text("utf-8")
    assert markdown.startswith(
        f"{report.MARKER}\n## promptops check ✅ passed\n\n1 prompt(s) changed, 0 failed the gate.\n"
    )
    assert "### ✅ capital-cities: passed" in markdown
    assert "| **exact_match** | 0.00 | 1.00 | +1.00 |" in markdown
    assert "\n+Answer with only the city name.\n" in markdown  # the rendered text diff
    assert "<sub>Baseline: the prompt as it is on the base ref</sub>" in markdown
    assert report.TRUNCATION_NOTE not in markdown
    assert summary.read_text("utf-8") == "earlier step\n" + markdown + "\n"
    assert sorted(p.name for p in (repo / ".promptops").iterdir()) == [".gitignore", "cache"]  # and no registry


def test_regressed_prompt_fails_and_lists_the_items_that_got_worse(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    set_instruction(repo, BETTER, "Ask for only the city name")
    branch(repo)
    set_instruction(repo, WORSE, "Ask for JSON")

    result = check(capsys, "--format", "github", "--report", str(tmp_path / "report.md"))
    assert result.code == 1
    lines = result.out.splitlines()
    # No validation problem to annotate; the failed gate is an error on the prompt file, at its `gate:`.
    assert lines[0] == (
        "::error file=prompts/capital-cities.yaml,line=25,title=promptops gate::capital-cities: Candidate rejected: "
        "exact_match fell from 1.00 to 0.00 (-1.00)."
    )
    token = lines[1].removeprefix("::stop-commands::")
    assert len(token) == 32 and lines[-1] == f"::{token}::"  # the verdict is printed with commands stopped
    assert not [line for line in lines[2:-1] if line.startswith("::")]
    assert lines[2] == "capital-cities: REJECTED"
    assert "  ✗ primary    exact_match fell from 1.00 to 0.00 (-1.00)" in lines
    assert "10 items got worse on exact_match:" in lines
    assert "  australia  1.00 → 0.00 (-1.00)" in lines
    assert '      candidate: {"answer": "Canberra"}' in lines
    assert "  … and 0 more" not in lines
    assert lines[-2] == "check failed: 1 of 1 changed prompt(s) failed the gate"

    markdown = (tmp_path / "report.md").read_text("utf-8")
    assert markdown.startswith(
        f"{report.MARKER}\n## promptops check ❌ failed\n\n1 prompt(s) changed, 1 failed the gate.\n"
    )
    assert "### ❌ capital-cities: rejected" in markdown
    assert "| ❌ | primary | exact_match fell from 1.00 to 0.00 (-1.00) |" in markdown
    assert "<details><summary>10 items got worse on exact_match</summary>" in markdown
    for item_id, (country, capital) in CAPITALS.items():
        row = f'| {item_id} | {{"country": "{country}"}} | {capital} | {capital} | {{"answer": "{capital}"}} |'
        assert f"{row} 1.00 → 0.00 (-1.00) |" in markdown

    code, data = check_json(capsys)
    assert code == 1
    assert data["passed"] is False
    prompt = only_prompt(data)
    assert prompt["passed"] is False
    assert metrics(prompt)["exact_match"] == (1.0, 0.0)
    worse = prompt["verdict"]["worse_items"]
    assert sorted(w["item_id"] for w in worse) == sorted(CAPITALS)
    assert {w["item_id"]: (w["baseline_output"], w["candidate_output"]) for w in worse} == {
        item_id: (capital, f'{{"answer": "{capital}"}}') for item_id, (_, capital) in CAPITALS.items()
    }


def test_validation_error_fails_with_annotations_and_runs_no_experiment(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_experiment(*args: object, **kwargs: object) -> object:
        raise AssertionError("an experiment ran although the prompts do not validate")

    monkeypatch.setattr("promptops.pr_check.evaluate", no_experiment)
    branch(repo)
    set_instruction(repo, BETTER, "Ask for only the city name")  # a change that would pass, were it judged
    agent = repo / "prompts" / "support-agent.yaml"
    agent.write_text(agent.read_text("utf-8").replace("{{ tone }}", "{{ mood }}"), "utf-8")
    git(repo, "commit", "-qam", "Use an undeclared variable")

    result = check(capsys, "--format", "github", "--report", str(tmp_path / "report.md"))
    assert result.code == 1
    token = result.out.splitlines()[2].removeprefix("::stop-commands::")
    assert result.out.splitlines() == [
        "::error file=prompts/support-agent.yaml,line=7,title=promptops undeclared-variable::'mood' is not defined: "
        "declare it under `variables:` (runtime) or `constants:` (build time)",
        "::warning file=prompts/support-agent.yaml,line=22,col=3,title=promptops unused-variable::runtime variable "
        "'tone' is declared but never used: remove it or use {{ tone }}",
        f"::stop-commands::{token}",
        "check failed: 1 validation error(s)",
        f"::{token}::",
    ]
    markdown = (tmp_path / "report.md").read_text("utf-8")
    assert markdown.startswith(
        f"{report.MARKER}\n## promptops check ❌ failed\n\n"
        "1 validation error(s): the prompts do not validate, so no experiment ran.\n"
    )
    assert (
        "### Validation errors\n\n| file | problem |\n|---|---|\n| `prompts/support-agent.yaml:7` | 'mood'" in markdown
    )
    assert "capital-cities" not in markdown  # no prompt section: nothing was judged

    code, data = check_json(capsys)
    assert code == 1
    assert (data["passed"], data["prompts"], data["baseline_source"]) == (False, [], "not reached")
    assert [(d["severity"], d["path"], d["line"], d["code"]) for d in data["diagnostics"]] == [
        ("error", "prompts/support-agent.yaml", 7, "undeclared-variable"),
        ("warning", "prompts/support-agent.yaml", 22, "unused-variable"),  # `tone` is declared but now unused
    ]


def test_no_prompt_changed(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    branch(repo)
    (repo / "README.md").write_text("Prompts for the support team.\n", "utf-8")
    path = repo / "prompts" / "capital-cities.yaml"
    path.write_text(path.read_text("utf-8") + "# A comment changes the file but not the rendered prompt.\n", "utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Docs and a comment")

    result = check(capsys)
    assert (result.code, result.out) == (0, "check passed: 0 changed prompt(s)\n")
    result = check(capsys, "--format", "markdown")
    assert result.code == 0
    assert result.out == (
        f"{report.MARKER}\n## promptops check ✅ passed\n\nNo prompt changed against the base.\n\n"
        f"Base: `main ({git(repo, 'rev-parse', 'main').strip()[:12]})` · baseline source: {FORK_SOURCE}\n\n"
    )


def test_new_prompt_is_judged_on_its_floors_only(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    branch(repo)
    source = (repo / "prompts" / "capital-cities.yaml").read_text("utf-8")
    (repo / "prompts" / "capitals-short.yaml").write_text(source.replace(QUESTION, BETTER + QUESTION), "utf-8")
    strict = source.replace("  floors:\n", "  floors:\n    exact_match: 0.5\n")
    (repo / "prompts" / "capitals-strict.yaml").write_text(strict, "utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Two new prompts")

    code, data = check_json(capsys)
    assert code == 1
    prompts = {p["name"]: p for p in data["prompts"]}
    assert sorted(prompts) == ["capitals-short", "capitals-strict"]
    for prompt in prompts.values():
        assert (prompt["status"], prompt["baseline"]) == ("new", "none: a new prompt is judged on its floors")
        assert prompt["verdict"]["baseline_subject"] is None
        assert all(m["baseline"] is None for m in prompt["verdict"]["metrics"])

    short = prompts["capitals-short"]["verdict"]
    assert short["passed"] is True
    assert [(c["kind"], c["passed"], c["message"]) for c in short["checks"]] == [
        ("primary", True, "no production baseline yet, so exact_match (1.00) is not compared"),
        ("floor", True, "mentions_capital 1.00 meets the floor 0.80"),
    ]
    assert short["worse_items"] == []
    strict_verdict = prompts["capitals-strict"]["verdict"]
    assert strict_verdict["passed"] is False
    # Nothing can get worse without a baseline: the items below the failed floor are listed instead.
    below = [(i["item_id"], i["metric"], i["candidate_value"]) for i in strict_verdict["worse_items"]]
    assert len(below) == 10 and set(below) == {(i, "exact_match", 0.0) for i, _, _ in below}
    assert [(c["kind"], c["metric"], c["passed"]) for c in strict_verdict["checks"]] == [
        ("primary", "exact_match", True),
        ("floor", "exact_match", False),
        ("floor", "mentions_capital", True),
    ]
    assert strict_verdict["reason"] == (
        "Candidate rejected: exact_match 0.00 is below the floor 0.50 "
        "(no production baseline yet, judged on floors only)."
    )


def test_redact_patterns_from_the_config_mask_the_report_and_the_terminal(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (repo / "promptops.yaml").write_text('prompts_dir: prompts\nredact:\n  patterns: ["Canberra"]\n', "utf-8")
    git(repo, "commit", "-qam", "Mask Canberra")
    set_instruction(repo, BETTER, "Ask for only the city name")
    branch(repo)
    set_instruction(repo, WORSE, "Ask for JSON")

    result = check(capsys, "--report", str(tmp_path / "report.md"))
    assert result.code == 1
    markdown = (tmp_path / "report.md").read_text("utf-8")
    assert "Canberra" not in result.out
    assert "Canberra" not in markdown
    assert '      candidate: {"answer": "[REDACTED]"}' in result.out.splitlines()
    row = '| australia | {"country": "Australia"} | [REDACTED] | [REDACTED] | {"answer": "[REDACTED]"} |'
    assert row in markdown


def test_a_pr_that_changes_200_prompts_gets_a_comment_sized_report(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    template = (repo / "prompts" / "capital-cities.yaml").read_text("utf-8").replace(QUESTION, BETTER + QUESTION)
    template = template.replace("dataset: capital-cities-tutorial", "dataset: three-capitals")
    (repo / "prompts" / "datasets" / "three-capitals.yaml").write_text(
        "items:\n"
        + "".join(
            f"  - {{id: {item_id}, input: {{country: {country}}}, expected_output: {capital}}}\n"
            for item_id, (country, capital) in list(CAPITALS.items())[:3]
        ),
        "utf-8",
    )
    bulk = repo / "prompts" / "bulk"
    bulk.mkdir()
    for n in range(200):
        (bulk / f"capital-{n:03d}.yaml").write_text(template, "utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "200 prompts")
    branch(repo)
    for path in bulk.iterdir():
        path.write_text(path.read_text("utf-8").replace(BETTER, WORSE), "utf-8")
    git(repo, "commit", "-qam", "Ask 200 prompts for JSON")

    result = check(capsys, "--report", str(tmp_path / "report.md"))
    assert result.code == 1
    assert result.out.splitlines()[-1] == "check failed: 200 of 200 changed prompt(s) failed the gate"
    markdown = (tmp_path / "report.md").read_text("utf-8")
    assert len(markdown) <= report.GITHUB_COMMENT_LIMIT
    assert markdown.startswith(f"{report.MARKER}\n## promptops check ❌ failed\n\n200 prompt(s) changed, 200 failed")
    assert markdown.endswith(report.TRUNCATION_NOTE)
    assert "### ❌ bulk/capital-000: rejected" in markdown
    assert "### `bulk/capital-199`" not in markdown  # its section was cut ...
    assert "| `bulk/capital-199` | changed | ❌ rejected |" in markdown  # ... but the summary table names it
    assert markdown.count("<details>") == markdown.count("</details>")


# -- where the baseline comes from, and nothing is written ----------------------------------------------------------


def test_local_registry_production_is_the_baseline_and_stays_untouched(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sync(capsys)  # production = version 1, the prompt without an instruction
    state = repo / ".promptops"
    assert sorted(p.name for p in state.iterdir()) == [".gitignore", "cache", "registry.db", "runs.db"]  # no -wal
    (state / "runs.db").unlink()  # check must not bring it back
    # main moves on without a sync: the base ref now differs from production.
    set_instruction(repo, BETTER, "Ask for only the city name")
    branch(repo)
    path = repo / "prompts" / "capital-cities.yaml"
    path.write_text(path.read_text("utf-8").replace("a helpful", "a precise"), "utf-8")
    git(repo, "commit", "-qam", "Reword the role")
    registry_bytes = (state / "registry.db").read_bytes()

    result = check(capsys, "--report", str(tmp_path / "report.md"))
    assert result.code == 0  # exact_match 0.00 → 1.00 against production; against the base ref it would tie
    assert "baseline: version 1 (production) · candidate: this branch" in result.out
    markdown = (tmp_path / "report.md").read_text("utf-8")
    assert f"· baseline source: {LOCAL_SOURCE}\n" in markdown
    assert "<sub>Baseline: production version 1 from the registry</sub>" in markdown
    assert "**On merge:** create version 2 and judge it against production (version 1)" in markdown
    assert "| **exact_match** | 0.00 | 1.00 | +1.00 |" in markdown
    assert (state / "registry.db").read_bytes() == registry_bytes
    assert sorted(p.name for p in state.iterdir()) == [".gitignore", "cache", "registry.db"]  # no WAL, no runs.db

    code, data = check_json(capsys, "--record")
    assert code == 0
    assert data["baseline_source"] == LOCAL_SOURCE
    assert only_prompt(data)["baseline"] == "production version 1 from the registry"
    assert (state / "registry.db").read_bytes() == registry_bytes
    names = {p.name for p in state.iterdir()}
    assert "runs.db" in names
    assert not {n for n in names if n.startswith("registry.db-")}  # no pending WAL either: nothing was written


def test_langfuse_production_is_the_baseline_and_check_writes_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str], langfuse_double: LangfuseDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in langfuse_double.env.items():
        monkeypatch.setenv(key, value)
    sync(capsys)
    branch(repo)
    set_instruction(repo, BETTER, "Ask for only the city name")
    versions = {name: langfuse_double.prompts(name) for name in langfuse_double.prompt_names()}
    writes, seen = langfuse_double.count_writes(), len(langfuse_double.requests())
    prompt_writes = langfuse_double.count_writes(PROMPT_WRITES)
    assert prompt_writes > 0  # the sync's, so the glob does match prompt writes

    code, data = check_json(capsys)
    assert code == 0
    assert data["baseline_source"].startswith(f"Langfuse at {langfuse_double.base_url} ")
    prompt = only_prompt(data)
    assert prompt["baseline"] == "production version 1 from the registry"
    assert prompt["verdict"]["baseline_subject"] == "version 1 (production)"
    assert metrics(prompt)["exact_match"] == (0.0, 1.0)
    assert langfuse_double.count_writes() == writes
    during_check = langfuse_double.requests()[seen:]
    assert during_check  # the registry was read
    assert {r.method for r in during_check} == {"GET"}

    seen, scores_seen, spans_seen = (
        len(langfuse_double.requests()),
        len(langfuse_double.scores()),
        len(langfuse_double.spans()),
    )
    code, data = check_json(capsys, "--record")
    assert code == 0
    assert only_prompt(data)["verdict"]["baseline_subject"] == "version 1 (production)"
    # Both runs (10 items each) were recorded: traces and scores ...
    spans = Counter(s.name for s in langfuse_double.spans()[spans_seen:])
    assert spans == {"experiment-item": 20, "prompt-managed-call": 20}
    scores = Counter(s["name"] for s in langfuse_double.scores()[scores_seen:])
    assert {name: scores[name] for name in ("exact_match", "mentions_capital", "answer_length")} == {
        "exact_match": 20,
        "mentions_capital": 20,
        "answer_length": 20,
    }
    # ... and they are the only writes: no prompt version, label or dataset.
    record_writes = {r.operation for r in langfuse_double.requests()[seen:] if r.is_write}
    assert record_writes == {"POST /api/public/otel/v1/traces", "POST /api/public/scores"}
    assert langfuse_double.count_writes(PROMPT_WRITES) == prompt_writes
    assert {name: langfuse_double.prompts(name) for name in langfuse_double.prompt_names()} == versions


@pytest.mark.parametrize("registry", ["local", "langfuse"])
@pytest.mark.parametrize(
    ("on_main", "on_branch", "passed"),
    [("", BETTER, True), (BETTER, WORSE, False)],
    ids=["improved", "regressed"],
)
def test_fork_mode_judges_like_the_registry_when_production_is_the_base(
    repo: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    registry: str,
    on_main: str,
    on_branch: str,
    passed: bool,
) -> None:
    if registry == "langfuse":
        double: LangfuseDouble = request.getfixturevalue("langfuse_double")
        for key, value in double.env.items():
            monkeypatch.setenv(key, value)
    if on_main:
        set_instruction(repo, on_main, "Production wording")
    sync(capsys)  # production = main's capital-cities
    branch(repo)
    set_instruction(repo, on_branch, "The PR's wording")

    code, with_registry = check_json(capsys)
    assert code == (0 if passed else 1)
    assert only_prompt(with_registry)["verdict"]["baseline_subject"] == "version 1 (production)"

    for key in LANGFUSE_ENV:
        monkeypatch.delenv(key, raising=False)
    if registry == "local":
        (repo / ".promptops" / "registry.db").rename(repo / "registry.db.away")
    code, forked = check_json(capsys)
    assert code == (0 if passed else 1)
    assert forked["baseline_source"] == FORK_SOURCE
    fork_prompt = only_prompt(forked)
    assert fork_prompt["baseline"] == "the prompt as it is on the base ref"
    assert fork_prompt["verdict"]["baseline_subject"] == "base ref"
    assert judged(fork_prompt) == judged(only_prompt(with_registry))
    assert fork_prompt["verdict"]["passed"] is passed
    assert not (repo / ".promptops" / "registry.db").exists()  # fork mode does not create a registry


# -- what counts as a change ----------------------------------------------------------------------------------------


def test_changes_on_the_base_after_the_branch_point_are_not_the_prs(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    branch_point = git(repo, "rev-parse", "HEAD").strip()
    branch(repo)
    set_instruction(repo, BETTER, "Ask for only the city name")
    git(repo, "checkout", "-q", "main")
    agent = repo / "prompts" / "support-agent.yaml"
    agent.write_text(agent.read_text("utf-8").replace("one or two sentences", "one sentence"), "utf-8")
    git(repo, "commit", "-qam", "Shorter support answers")
    git(repo, "checkout", "-q", "pr")

    code, data = check_json(capsys)
    assert code == 0
    assert data["base"] == f"main ({branch_point[:12]})"
    assert [p["name"] for p in data["prompts"]] == ["capital-cities"]
    assert metrics(only_prompt(data))["exact_match"] == (0.0, 1.0)


# -- prompts removed on the branch, and a registry that cannot be reached -----------------------------------------


def test_a_removed_prompt_is_listed_with_what_sync_will_do(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    branch(repo)
    git(repo, "rm", "-q", "prompts/support-agent.yaml")
    git(repo, "commit", "-qm", "Retire the support agent")
    code, data = check_json(capsys, "--report", "report.md")
    assert code == 0
    prompt = only_prompt(data)
    assert (prompt["name"], prompt["status"], prompt["passed"], prompt["verdict"]) == (
        "support-agent",
        "removed",
        True,
        None,
    )
    assert prompt["plan"].startswith("sync leaves the registry's versions as an orphan")
    assert prompt["text_diff"].startswith("--- support-agent (base)\n+++ support-agent (this branch)\n")
    assert "| `support-agent` | removed | — removed from git |" in (repo / "report.md").read_text("utf-8")


def test_an_unreachable_langfuse_falls_back_to_the_base_ref(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # A key of its own: the SDK keeps one client per public key per process (REFERENCE §1.3).
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", f"pk-lf-unreachable-check-{port}")
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk-lf-unreachable-secret")
    monkeypatch.setenv("LANGFUSE_BASE_URL", f"http://127.0.0.1:{port}")
    branch(repo)
    set_instruction(repo, BETTER, "Ask for only the city name")
    code, data = check_json(capsys)
    assert code == 0
    assert data["baseline_source"].startswith("the base ref main (registry unreachable: ")
    assert "sk-lf-unreachable-secret" not in json.dumps(data)
    assert only_prompt(data)["baseline"] == "the prompt as it is on the base ref"


def test_keys_langfuse_rejects_fail_the_check_instead_of_falling_back(
    repo: Path, capsys: pytest.CaptureFixture[str], langfuse_double: LangfuseDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A key of its own: the SDK keeps one client per public key per process (REFERENCE §1.3).
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", f"pk-lf-rejected-{id(repo)}")
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk-lf-wrong-secret-key")
    monkeypatch.setenv("LANGFUSE_HOST", langfuse_double.base_url)  # the older name: messages must say it
    branch(repo)
    set_instruction(repo, BETTER, "Ask for only the city name")
    result = check(capsys, "--format", "github")
    assert result.code == 1
    message = (
        f"Langfuse at {langfuse_double.base_url} rejected the API keys (401) while listing prompts "
        "(page 1): check LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY, and that LANGFUSE_HOST is the host of their "
        "project"
    )
    assert result.err.splitlines()[-1] == f"error: {message}"
    assert result.out.splitlines()[-1].startswith("::error file=promptops.yaml,title=promptops check::Langfuse at ")
    assert "sk-lf-wrong-secret-key" not in result.out + result.err


def test_a_base_url_without_a_scheme_says_how_to_write_it(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", "pk-lf-noscheme")
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk-lf-noscheme-secret")
    monkeypatch.setenv("LANGFUSE_BASE_URL", "cloud.langfuse.com")
    result = run_cli(capsys, "status")
    assert (result.code, result.err) == (
        1,
        "error: LANGFUSE_BASE_URL is 'cloud.langfuse.com', which has no scheme: write the whole URL, e.g. "
        "https://cloud.langfuse.com\n",
    )


def test_one_failed_of_two_is_counted_and_every_failed_metric_lists_its_items(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    branch(repo)
    source = (repo / "prompts" / "capital-cities.yaml").read_text("utf-8")
    (repo / "prompts" / "capitals-short.yaml").write_text(source.replace(QUESTION, BETTER + QUESTION), "utf-8")
    # The case: grounding on a context the prompt does not give makes every answer "I don't know".
    set_instruction(repo, "  Answer using only the provided context.\n", "Stay grounded")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "A second prompt")
    result = check(capsys)
    assert result.code == 1
    lines = result.out.splitlines()
    assert lines[-1] == "check failed: 1 of 2 changed prompt(s) failed the gate"
    assert "no item got worse on exact_match" in lines  # it was 0 before and is 0 now
    assert "10 items got worse on mentions_capital:" in lines
    assert "  australia  1.00 → 0.00 (-1.00)" in lines


def test_a_shallow_clone_is_told_to_fetch_the_history(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    branch(repo)
    set_instruction(repo, BETTER, "Ask for only the city name")
    clone = tmp_path / "clone"
    # As actions/checkout does by default: one commit of the PR's branch, no base branch.
    git(tmp_path, "clone", "-q", "--depth", "1", "--branch", "pr", repo.as_uri(), str(clone))
    monkeypatch.chdir(clone)
    result = run_cli(capsys, "check", "--base", "origin/main")
    assert result.code == 1
    assert result.err == (
        "error: git does not know 'origin/main'; this is a shallow clone, which lacks that history: fetch it all "
        "(actions/checkout with `fetch-depth: 0`, or `git fetch --unshallow`)\n"
    )
