"""The PR gate's switch for custom code (check.custom_code: base-only, check --custom-code base-only).

On a pull request from the same repository the PR's own Python runs next to CI's secrets when an experiment
names it. With the switch, check runs only custom code the base branch already has; validate never imports.
Each PR here also carries a module that would create a canary file if it were imported.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.helpers import EXAMPLE_PROMPTS, Run, git, git_init, make_project, run_cli, write_files

EVALUATOR = "def score(output):\n    return 'Paris' in output or 'Berlin' in output\n"
PAYLOAD = "import pathlib\npathlib.Path({canary!r}).touch()\n\ndef score(output):\n    return True\n"


def capital(kind: str, line: str = "") -> str:
    source = (EXAMPLE_PROMPTS / "capital-cities.yaml").read_text("utf-8")
    source = source.replace("  evaluators:\n", f"  evaluators:\n    - {{type: '{kind}', name: custom}}\n")
    return source.replace("  Question:", f"  {line}\n  Question:") if line else source


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository whose base branch uses a custom evaluator (custom_evals:score) and turns the switch on."""
    root = make_project(
        tmp_path / "repo",
        {"custom_evals.py": EVALUATOR, "prompts/capital-cities.yaml": capital("custom_evals:score")},
        examples=True,
    )
    (root / "promptops.yaml").write_text("prompts_dir: prompts\ncheck: {custom_code: base-only}\n", "utf-8")
    git_init(root)
    git(root, "checkout", "-qb", "pr")
    for key in ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(root)
    monkeypatch.syspath_prepend(str(root))
    for module in [m for m in sys.modules if m.startswith(("custom_evals", "pr_evals"))]:
        monkeypatch.delitem(sys.modules, module)
    return root


def commit(root: Path, files: dict[str, str], message: str = "PR") -> None:
    write_files(root, files)
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[Run, str]:
    run = run_cli(capsys, "check", "--base", "main", "--report", "report.md", *args)
    assert "Traceback" not in run.out + run.err
    return run, Path("report.md").read_text("utf-8")


def test_unchanged_custom_code_runs_as_usual(capsys: pytest.CaptureFixture[str], repo: Path) -> None:
    commit(repo, {"prompts/capital-cities.yaml": capital("custom_evals:score", "Answer with only the city name.")})
    run, report = check(capsys)
    assert run.code == 0, run.out + run.err
    assert "| `capital-cities` | changed | ✅ passed |" in report


def test_a_changed_module_is_refused_before_it_is_imported(
    capsys: pytest.CaptureFixture[str], repo: Path, tmp_path: Path
) -> None:
    canary = tmp_path / "canary"
    commit(
        repo,
        {
            "custom_evals.py": PAYLOAD.format(canary=str(canary)),
            "prompts/capital-cities.yaml": capital("custom_evals:score", "Answer with only the city name."),
        },
    )
    run, report = check(capsys)
    assert run.code == 1
    assert not canary.exists(), "the PR's code ran"
    assert "| `capital-cities` | changed | ❌ could not run |" in report
    assert (
        "custom code refused (check.custom_code: base-only): this branch changes Python files (custom_evals.py), "
        "which custom_evals:score could import; it runs once the change is merged"
    ) in report
    assert "capital-cities: FAILED, the gate could not finish: custom code refused" in run.out


def test_new_custom_code_is_refused_even_if_the_pr_turns_the_switch_off(
    capsys: pytest.CaptureFixture[str], repo: Path, tmp_path: Path
) -> None:
    # The switch is read from the base branch: a PR cannot lift it by editing promptops.yaml, nor by the option.
    canary = tmp_path / "canary"
    (repo / "promptops.yaml").write_text("prompts_dir: prompts\ncheck: {custom_code: any}\n", "utf-8")
    commit(repo, {"prompts/capital-cities.yaml": capital("pr_evals:score", "Answer briefly.")})
    write_files(repo, {"pr_evals.py": PAYLOAD.format(canary=str(canary))})  # untracked, yet importable
    run, report = check(capsys, "--custom-code", "any")
    assert run.code == 1 and not canary.exists()
    assert "custom code refused (check.custom_code: base-only): pr_evals:score is not used by any prompt" in report


def test_the_option_turns_the_switch_on_without_the_config(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(tmp_path / "plain", examples=True)
    git_init(root)
    git(root, "checkout", "-qb", "pr")
    monkeypatch.chdir(root)
    monkeypatch.syspath_prepend(str(root))
    canary = tmp_path / "canary"
    commit(
        root,
        {
            "pr_evals.py": PAYLOAD.format(canary=str(canary)),
            "prompts/capital-cities.yaml": capital("pr_evals:score", "Answer briefly."),
        },
    )
    run, report = check(capsys, "--custom-code", "base-only")
    assert run.code == 1 and not canary.exists()
    assert "pr_evals:score is not used by any prompt on the base branch" in report
    monkeypatch.setenv("PROMPTOPS_CUSTOM_CODE", "base-only")  # how the composite action's custom-code input arrives
    run, report = check(capsys)
    assert run.code == 1 and not canary.exists() and "custom code refused" in report
    assert run_cli(capsys, "validate").code == 0 and not canary.exists()  # validate imports nothing, ever
