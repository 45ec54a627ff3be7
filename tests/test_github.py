"""The GitHub integration: workflows, composite action and pre-commit hook lint clean, call real commands, stay safe."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from promptops import report, scaffold
from promptops.cli import cli
from tests.helpers import REPO_ROOT

WORKFLOWS_DIR = REPO_ROOT / ".github" / "workflows"
PROMPT_WORKFLOW = WORKFLOWS_DIR / "promptops.yml"
CI_WORKFLOW = WORKFLOWS_DIR / "ci.yml"
ACTION = REPO_ROOT / ".github" / "actions" / "promptops" / "action.yml"
HOOKS = REPO_ROOT / ".pre-commit-hooks.yaml"
STICKY_STEP = "Post the report as the sticky PR comment"
PINNED_USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+?)(?:\s+#\s*(v\d+\.\d+\.\d+))?\s*$")
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40}$")
SHELL_VARIABLE = re.compile(r"\$\{?([A-Za-z_]\w*)\}?")
# What the scripts' variables hold at run time, so each invocation parses exactly as it will on GitHub.
EXAMPLE_VALUES = {
    "BASE": "origin/main",
    "BASE_REF": "main",
    "HTML": "promptops-report.html",
    "PROMPT": "support-agent",
    "REPORT": "promptops-report.md",
    "RUNNER_TEMP": "/home/runner/work/_temp",
    "SHARD": "2",
    "SHARDS": "4",
    "TO_VERSION": "3",
}


def actionlint(*args: str, cwd: Path = REPO_ROOT, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run actionlint from the test extra; shellcheck checks run: scripts when the extra installed it too."""
    bin_dir = str(Path(sys.executable).parent)
    exe = shutil.which("actionlint", path=bin_dir) or shutil.which("actionlint")
    if exe is None:
        pytest.fail("actionlint is not installed: pip install -e '.[test]' provides it")
    # Only the venv's shellcheck: a different one on PATH would make results depend on the machine.
    shellcheck = shutil.which("shellcheck", path=bin_dir) or ""
    command = [exe, "-no-color", "-oneline", f"-shellcheck={shellcheck}", "-pyflakes=", *args]
    return subprocess.run(command, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=120)


def load(path: Path) -> dict[str, Any]:
    """Parse a YAML file into a mapping."""
    data = yaml.safe_load(path.read_text("utf-8"))
    assert isinstance(data, dict), f"{path} is not a mapping"
    return data


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    """Return a workflow's `on:` (YAML 1.1 reads the bare key `on` as True)."""
    on = workflow["on"] if "on" in workflow else workflow[True]
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    assert isinstance(on, dict)
    return on


def steps(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (where, step) for every step of a workflow's jobs or of a composite action."""
    doc = load(path)
    if "runs" in doc:
        for i, step in enumerate(doc["runs"]["steps"]):
            yield f"{path.name} step {i}", step
        return
    for job_id, job in doc["jobs"].items():
        for i, step in enumerate(job.get("steps", [])):
            yield f"{path.name} {job_id} step {i}", step


def scripts(path: Path) -> list[tuple[str, str]]:
    """Return (where, script) for every run: step."""
    return [(where, step["run"]) for where, step in steps(path) if "run" in step]


def step_named(path: Path, name: str) -> dict[str, Any]:
    """Return the one step called `name`."""
    found = [step for _, step in steps(path) if step.get("name") == name]
    assert len(found) == 1, f"{path.name}: {len(found)} steps named {name!r}"
    return found[0]


def invocations(script: str) -> list[list[str]]:
    """Return the arguments of every line of a script that runs `promptops`, variables filled with examples."""
    found = []
    for line in script.replace("\\\n", " ").splitlines():
        if not line.strip().startswith("promptops "):
            continue
        lexer = shlex.shlex(line.strip(), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = []
        for token in lexer:
            if set(token) <= set("|&;<>()"):
                break  # a pipe, redirection or list operator ends the command
            words.append(SHELL_VARIABLE.sub(lambda m: EXAMPLE_VALUES[m[1]], token))
        found.append(words[1:])
    return found


def parse_cli(args: list[str]) -> str:
    """Parse `promptops ARGS` with the real Click CLI, without running it; return the subcommand's name."""
    options = {opt: p for p in cli.params if isinstance(p, click.Option) for opt in p.opts}
    i = 0
    while i < len(args) and args[i].startswith("-"):
        param = options.get(args[i].split("=", 1)[0])
        assert param is not None, f"promptops has no global option {args[i]}"
        i += 1 if param.is_flag or "=" in args[i] else 2
    assert i < len(args), f"no command in `promptops {' '.join(args)}`"
    ctx = cli.make_context("promptops", args[: i + 1])
    command = cli.get_command(ctx, args[i])
    assert command is not None, f"promptops has no command {args[i]!r}"
    command.make_context(args[i], args[i + 1 :], parent=ctx)
    return args[i]


def write_stub(folder: Path, name: str, body: str) -> None:
    """Write an executable bash script `name` into folder."""
    path = folder / name
    path.write_text("#!/usr/bin/env bash\n" + body, "utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def run_script(script: str, tmp_path: Path, env: dict[str, str], *, action: bool = False) -> int:
    """Run a step's script the way the runner does (`bash -e`, or with pipefail for `shell: bash`)."""
    flags = ["--noprofile", "--norc", "-eo", "pipefail"] if action else ["-e"]
    base = {"PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp_path)}
    result = subprocess.run(["bash", *flags, "-c", script], cwd=tmp_path, env={**base, **env}, timeout=60)
    return result.returncode


ALL_FILES = sorted(WORKFLOWS_DIR.glob("*.yml")) + [ACTION]


def test_the_workflows_are_ci_and_promptops() -> None:
    assert sorted(p.name for p in WORKFLOWS_DIR.iterdir()) == ["ci.yml", "promptops.yml"]


@pytest.mark.parametrize("path", sorted(WORKFLOWS_DIR.glob("*.yml")), ids=lambda p: p.name)
def test_workflow_passes_actionlint(path: Path) -> None:
    result = actionlint(str(path.relative_to(REPO_ROOT)))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_composite_action_steps_pass_actionlint() -> None:
    # actionlint reads action.yml only for the inputs a workflow passes it; to check its own expressions and
    # scripts, lint its steps as the steps of a reusable workflow with the same inputs.
    action = load(ACTION)
    workflow = {
        "on": {"workflow_call": {"inputs": {name: {"type": "string"} for name in action["inputs"]}}},
        "permissions": {"contents": "read"},
        "jobs": {"action": {"runs-on": "ubuntu-latest", "steps": action["runs"]["steps"]}},
    }
    result = actionlint("-", stdin=yaml.safe_dump(workflow, sort_keys=False))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_every_promptops_invocation_exists_in_the_cli() -> None:
    found: dict[str, list[str]] = {path.name: [] for path in [*ALL_FILES, HOOKS]}
    for path in ALL_FILES:
        for _, script in scripts(path):
            found[path.name].extend(parse_cli(args) for args in invocations(script))
    for hook in yaml.safe_load(HOOKS.read_text("utf-8")):
        args = [*shlex.split(hook["entry"])[1:], "prompts/hello.yaml"]  # pre-commit appends the changed files
        found[HOOKS.name].append(parse_cli(args))
    assert found == {
        "ci.yml": [],
        "promptops.yml": ["check", "check", "check", "sync", "rollback", "rollback", "history"],
        "action.yml": ["check", "check", "check", "check", "sync", "rollback", "rollback", "validate"],
        ".pre-commit-hooks.yaml": ["validate"],
    }


def test_invocation_parser_rejects_what_the_cli_rejects() -> None:
    with pytest.raises(click.NoSuchOption):
        parse_cli(["rollback", "support-agent", "--yes", "--force"])
    with pytest.raises(click.BadParameter):
        parse_cli(["--registry", "langfuse", "rollback", "support-agent", "--to", "latest"])
    with pytest.raises(AssertionError, match="no command 'deploy'"):
        parse_cli(["deploy"])


@pytest.mark.parametrize("path", sorted(WORKFLOWS_DIR.glob("*.yml")), ids=lambda p: p.name)
def test_workflow_never_runs_on_pull_request_target(path: Path) -> None:
    # pull_request_target runs with secrets and a write token: checking out a PR's code there hands both over.
    assert "pull_request_target" not in triggers(load(path))


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit(path: Path) -> None:
    uses = [m for m in map(PINNED_USES.match, path.read_text("utf-8").splitlines()) if m]
    assert uses, f"{path.name} uses no action"
    for match in uses:
        ref, version = match.groups()
        if ref.startswith("./"):
            continue
        assert SHA_PIN.match(ref), f"{path.name}: {ref} is not pinned by a 40-hex commit"
        assert version, f"{path.name}: {ref} has no `# vX.Y.Z` comment saying which release the commit is"


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_no_expression_inside_a_run_script(path: Path) -> None:
    # ${{ }} is pasted into the script before bash runs it: an input or a PR title would become shell code.
    for where, script in scripts(path):
        assert "${{" not in script, f"{where}: pass the value through env: instead"


def test_permissions_are_read_only_unless_a_job_needs_more() -> None:
    for path in sorted(WORKFLOWS_DIR.glob("*.yml")):
        assert load(path)["permissions"] == {"contents": "read"}, path.name
    jobs = load(PROMPT_WORKFLOW)["jobs"]
    assert {job_id: job["permissions"] for job_id, job in jobs.items()} == {
        "shards": {"contents": "read"},
        "check-shard": {"contents": "read"},
        "check": {"contents": "read", "pull-requests": "write"},
        "sync": {"contents": "read"},
        "rollback": {"contents": "read"},
    }


def test_prompt_workflow_triggers_and_jobs() -> None:
    workflow = load(PROMPT_WORKFLOW)
    on = triggers(workflow)
    assert on["pull_request"] == {
        "paths": ["prompts/**", "pyproject.toml", "promptops.yaml", ".github/workflows/promptops.yml"]
    }
    assert on["push"] == {"branches": ["main"], "paths": ["prompts/**", "pyproject.toml", "promptops.yaml"]}
    assert on["workflow_dispatch"]["inputs"] == {
        "prompt": {
            "description": "Roll back this prompt's production label (its name, e.g. support-agent)",
            "required": True,
            "type": "string",
        },
        "to_version": {
            "description": "Move production to this version (default: the previous release)",
            "required": False,
            "type": "string",
        },
    }
    jobs = workflow["jobs"]
    assert {job_id: job["if"] for job_id, job in jobs.items()} == {
        "shards": "github.event_name == 'pull_request'",
        "check-shard": "needs.shards.outputs.count != '1'",
        "check": "${{ !cancelled() && github.event_name == 'pull_request' }}",
        "sync": "github.event_name == 'push'",
        "rollback": "github.event_name == 'workflow_dispatch'",
    }
    assert jobs["sync"]["concurrency"] == {"group": "promptops-sync", "cancel-in-progress": False}
    assert jobs["check"]["steps"][0]["with"] == {"fetch-depth": 0, "persist-credentials": False}
    assert step_named(PROMPT_WORKFLOW, STICKY_STEP)["if"] == (
        "${{ !cancelled() && github.event.pull_request.head.repo.full_name == github.repository }}"
    )
    assert workflow["env"]["LANGFUSE_PUBLIC_KEY"] == "${{ secrets.LANGFUSE_PUBLIC_KEY }}"


def test_repository_workflow_is_the_init_template() -> None:
    # One template for this repository (promptops installed from the checkout) and for `promptops init`.
    assert PROMPT_WORKFLOW.read_text("utf-8") == scaffold.workflow(".")


def test_ci_runs_the_suite_like_ci_run_on_every_python() -> None:
    test_job = load(CI_WORKFLOW)["jobs"]["test"]
    assert test_job["strategy"]["matrix"] == {"python-version": ["3.11", "3.12", "3.13"]}
    assert test_job["steps"][-1]["run"] == "bash .ci/run"


def test_action_interface() -> None:
    action = load(ACTION)
    assert action["runs"]["using"] == "composite"
    assert {name: spec.get("default") for name, spec in action["inputs"].items()} == {
        "command": "check",
        "base-ref": "",
        "prompt": "",
        "to-version": "",
        "langfuse-host": "",
        "python-version": "3.12",
        "promptops-version": "",
        "report-path": "promptops-report.md",
        "html-path": "promptops-report.html",
        "comment": "true",
        "shards": "1",
        "shard": "",
        "custom-code": "",
    }
    run = next(step for step in action["runs"]["steps"] if step.get("id") == "run")
    assert run["env"]["PROMPTOPS_CUSTOM_CODE"] == "${{ inputs.custom-code }}"  # check reads it as --custom-code
    assert {name: spec["value"] for name, spec in action["outputs"].items()} == {
        "verdict": "${{ steps.run.outputs.verdict }}",
        "report-path": "${{ steps.run.outputs.report-path }}",
        "html-report-url": "${{ steps.html-report.outputs.artifact-url }}",
    }


def test_pre_commit_hook() -> None:
    assert yaml.safe_load(HOOKS.read_text("utf-8")) == [
        {
            "id": "promptops-validate",
            "name": "promptops validate",
            "description": (
                "Check changed prompt, partial and dataset files (YAML, schema, Jinja, variables, datasets)."
            ),
            "entry": "promptops validate",
            "language": "python",
            "files": r"(\.(ya?ml|jsonl|jinja)|(^|/)(pyproject\.toml|promptops\.yaml))$",
            "pass_filenames": True,
            "require_serial": True,
        }
    ]
    pattern = re.compile(yaml.safe_load(HOOKS.read_text("utf-8"))[0]["files"])
    matched = ["prompts/a.yaml", "prompts/datasets/d.yml", "prompts/datasets/d.jsonl", "prompts/_partials/p.jinja"]
    matched += ["src/prompts/a.yaml", "promptops.yaml"]  # any prompts_dir, and the config
    assert [p for p in [*matched, "prompts/README.md", "src/app.py"] if pattern.search(p)] == matched


def test_sticky_comment_script_is_shared_and_uses_the_report_marker() -> None:
    workflow_script = step_named(PROMPT_WORKFLOW, STICKY_STEP)["run"]
    assert step_named(ACTION, STICKY_STEP)["run"] == workflow_script
    assert workflow_script.count(report.MARKER) == 2  # the marker it adds and the one it searches for


@pytest.fixture
def gh(tmp_path: Path) -> dict[str, str]:
    """A stub `gh` on PATH: it logs its arguments, answers the comment listing through the real jq filter."""
    (tmp_path / "bin").mkdir()
    write_stub(
        tmp_path / "bin",
        "gh",
        'echo "$*" >> "$GH_LOG"\n'
        'prev=""\n'
        'for arg in "$@"; do\n'
        '  if [ "$prev" = "--jq" ]; then jq -r "$arg" "$GH_COMMENTS"; fi\n'
        '  if [ "$arg" = "--input" ]; then cat > "$GH_BODY"; fi\n'
        "  prev=$arg\n"
        "done\n",
    )
    return {
        "GH_LOG": str(tmp_path / "gh.log"),
        "GH_BODY": str(tmp_path / "body.json"),
        "GH_COMMENTS": str(tmp_path / "comments.json"),
        "GITHUB_REPOSITORY": "acme/app",
        "PR_NUMBER": "7",
        "REPORT": "promptops-report.md",
        "RUN_URL": "https://github.com/acme/app/actions/runs/1",
        "GH_TOKEN": "t",
    }


def test_sticky_comment_updates_the_bot_comment_in_place(tmp_path: Path, gh: dict[str, str]) -> None:
    comments = [
        {"id": 1, "user": {"login": "mallory"}, "body": f"{report.MARKER} mine"},
        {"id": 2, "user": {"login": "github-actions[bot]"}, "body": "another bot message"},
        {"id": 3, "user": {"login": "github-actions[bot]"}, "body": f"{report.MARKER}\nold report"},
    ]
    Path(gh["GH_COMMENTS"]).write_text(json.dumps(comments), "utf-8")
    text = f"{report.MARKER}\n## promptops check ✅ passed\n"
    (tmp_path / "promptops-report.md").write_text(text, "utf-8")
    assert run_script(step_named(PROMPT_WORKFLOW, STICKY_STEP)["run"], tmp_path, gh) == 0
    log = Path(gh["GH_LOG"]).read_text("utf-8").splitlines()
    assert len(log) == 2 and log[0].startswith("api --paginate repos/acme/app/issues/7/comments --jq ")
    assert log[1] == "api --method PATCH repos/acme/app/issues/comments/3 --input -"
    assert json.loads(Path(gh["GH_BODY"]).read_text("utf-8")) == {"body": text}


HTML_URL = "https://github.com/acme/app/actions/runs/1/artifacts/42"
LINK_LINE = (
    f"📊 **[Open the HTML report]({HTML_URL})**: charts and every item, baseline and candidate side by side "
    "(a zip with one self-contained page)."
)


def test_sticky_comment_links_the_html_report_under_its_heading(tmp_path: Path, gh: dict[str, str]) -> None:
    Path(gh["GH_COMMENTS"]).write_text("[]", "utf-8")
    text = f"{report.MARKER}\n## promptops check ❌ failed\n\n1 prompt(s) changed, 1 failed the gate.\n"
    (tmp_path / "promptops-report.md").write_text(text, "utf-8")
    assert run_script(step_named(PROMPT_WORKFLOW, STICKY_STEP)["run"], tmp_path, {**gh, "HTML_URL": HTML_URL}) == 0
    body = json.loads(Path(gh["GH_BODY"]).read_text("utf-8"))["body"]
    assert body == (
        f"{report.MARKER}\n## promptops check ❌ failed\n\n{LINK_LINE}\n\n1 prompt(s) changed, 1 failed the gate.\n"
    )


def test_a_report_cut_to_size_still_fits_with_the_link(tmp_path: Path, gh: dict[str, str]) -> None:
    huge = "".join(f"+line {i}\n" for i in range(20_000))
    checks = [report.PromptCheck(f"p{i}", "changed", "-", huge, "sync creates a version", None, "n") for i in range(3)]
    markdown = report.markdown(checks, (), base="main (abc)", registry="the base ref")
    assert report.TRUNCATION_NOTE in markdown
    Path(gh["GH_COMMENTS"]).write_text("[]", "utf-8")
    (tmp_path / "promptops-report.md").write_text(markdown, "utf-8")
    long_url = "https://github.com/" + "o" * 100 + "/" + "r" * 100 + "/actions/runs/12345678901/artifacts/12345678901"
    assert run_script(step_named(ACTION, STICKY_STEP)["run"], tmp_path, {**gh, "HTML_URL": long_url}, action=True) == 0
    body = json.loads(Path(gh["GH_BODY"]).read_text("utf-8"))["body"]
    assert f"[Open the HTML report]({long_url})" in body.splitlines()[3]
    assert len(body) <= report.GITHUB_COMMENT_LIMIT


@pytest.mark.parametrize(("job", "html", "junit"), [
    ("check", "promptops-report.html", "promptops-junit.xml"),
    ("sync", "promptops-sync-report.html", "promptops-sync-junit.xml"),
])  # fmt: skip
def test_the_workflow_uploads_the_html_report_it_asks_for(job: str, html: str, junit: str) -> None:
    job_steps = load(PROMPT_WORKFLOW)["jobs"][job]["steps"]
    runs = [args for step in job_steps if "run" in step for args in invocations(step["run"]) if job in args]
    assert runs and all(args[args.index("--html") + 1] == html for args in runs)  # check: sharded or not
    assert all(args[args.index("--junit") + 1] == junit for args in runs)
    (upload,) = [step for step in job_steps if step.get("name") == "Upload the HTML report"]
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert upload["if"] == f"${{{{ !cancelled() && hashFiles('{html}') != '' }}}}"
    assert upload["with"]["path"].split() == [html, junit]
    if job == "check":
        assert upload["id"] == "html-report"
        assert (
            step_named(PROMPT_WORKFLOW, STICKY_STEP)["env"]["HTML_URL"]
            == "${{ steps.html-report.outputs.artifact-url }}"
        )
        assert job_steps.index(upload) < job_steps.index(step_named(PROMPT_WORKFLOW, STICKY_STEP))


def test_sticky_comment_is_created_once_and_explains_a_missing_report(tmp_path: Path, gh: dict[str, str]) -> None:
    Path(gh["GH_COMMENTS"]).write_text("[]", "utf-8")
    assert run_script(step_named(ACTION, STICKY_STEP)["run"], tmp_path, gh, action=True) == 0
    log = Path(gh["GH_LOG"]).read_text("utf-8").splitlines()
    assert log[1] == "api --method POST repos/acme/app/issues/7/comments --input -"
    assert json.loads(Path(gh["GH_BODY"]).read_text("utf-8")) == {
        "body": f"{report.MARKER}\n## promptops check did not finish\n\n"
        "No report was written: see [the job log](https://github.com/acme/app/actions/runs/1).\n"
    }


@pytest.fixture
def fake_promptops(tmp_path: Path) -> Path:
    """A stub `promptops` on PATH: one line per argument in args.log, a report for --report, exit $STUB_EXIT."""
    (tmp_path / "bin").mkdir(exist_ok=True)
    write_stub(
        tmp_path / "bin",
        "promptops",
        'printf "%s\\n" "$@" > "$STUB_LOG"\n'
        'prev=""\n'
        'for arg in "$@"; do if [ "$prev" = "--report" ]; then echo "# report" > "$arg"; fi; prev=$arg; done\n'
        'exit "${STUB_EXIT:-0}"\n',
    )
    return tmp_path / "args.log"


def test_rollback_inputs_stay_data(tmp_path: Path, fake_promptops: Path) -> None:
    script = step_named(PROMPT_WORKFLOW, "Move production back")["run"]
    hostile = 'x"; touch pwned; echo "$(touch pwned2)'
    env = {"STUB_LOG": str(fake_promptops), "PROMPT": hostile, "TO_VERSION": ""}
    assert run_script(script, tmp_path, env) == 0
    assert fake_promptops.read_text("utf-8").splitlines() == ["--registry", "langfuse", "rollback", hostile, "--yes"]
    assert run_script(script, tmp_path, {**env, "TO_VERSION": "3"}) == 0
    assert fake_promptops.read_text("utf-8").splitlines() == [
        *["--registry", "langfuse", "rollback", hostile],
        *["--to", "3", "--yes"],
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["args.log", "bin"]


@pytest.mark.parametrize(
    ("command", "stub_exit", "argv", "outputs"),
    [
        (
            "check",
            "0",
            [
                *["check", "--base", "origin/main", "--format", "github", "--report", "promptops-report.md"],
                *["--html", "promptops-report.html"],
            ],
            ["verdict=pass", "exit-code=0", "report-path=promptops-report.md"],
        ),
        (
            "sync",
            "1",
            ["--registry", "langfuse", "sync", "--html", "promptops-report.html"],
            ["verdict=fail", "exit-code=1", "report-path="],
        ),
        ("validate", "0", ["validate", "--format", "github"], ["verdict=pass", "exit-code=0", "report-path="]),
        ("deploy", "0", [], ["verdict=fail", "exit-code=64", "report-path="]),
    ],
)
def test_action_run_step_writes_the_verdict(
    tmp_path: Path, fake_promptops: Path, command: str, stub_exit: str, argv: list[str], outputs: list[str]
) -> None:
    output = tmp_path / "github-output"
    env = {
        "STUB_LOG": str(fake_promptops),
        "STUB_EXIT": stub_exit,
        "GITHUB_OUTPUT": str(output),
        "GITHUB_BASE_REF": "main",
        "COMMAND": command,
        "BASE": "",
        "PROMPT": "",
        "TO_VERSION": "",
        "HOST": "",
        "REPORT": "promptops-report.md",
        "HTML": "promptops-report.html",
    }
    assert run_script(step_named(ACTION, "Run promptops")["run"], tmp_path, env, action=True) == 0
    logged = fake_promptops.read_text("utf-8").splitlines() if fake_promptops.exists() else []
    assert logged == argv
    assert output.read_text("utf-8").splitlines() == outputs


def test_the_pre_commit_hook_runs_for_any_prompts_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import re

    from tests.helpers import run_cli, write_files

    (hook,) = yaml.safe_load(HOOKS.read_text("utf-8"))
    files = re.compile(hook["files"])  # pre-commit matches it with re.search against repo-relative paths
    matched = ["llm/prompts/a.yaml", "prompts/datasets/d.jsonl", "llm/prompts/_partials/p.jinja", "pyproject.toml"]
    assert [p for p in [*matched, "README.md", "src/app.py"] if files.search(p)] == matched
    # A prompts_dir of llm/prompts: the hook's files are checked, one outside the prompts folder has no problem.
    write_files(tmp_path, {"promptops.yaml": "prompts_dir: llm/prompts\n", "llm/prompts/a.yaml": "prompt: '{{ x }}'\n",
                           "deploy/k8s.yaml": "kind: Pod\n"})  # fmt: skip
    monkeypatch.chdir(tmp_path)
    result = run_cli(capsys, *shlex.split(hook["entry"])[1:], "llm/prompts/a.yaml", "deploy/k8s.yaml")
    assert result.code == 1
    assert {line.split(": ")[0].split(":")[0] for line in result.out.splitlines()} == {"llm/prompts/a.yaml"}


# -- shards: check fanned out over a matrix and joined ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("shards", "code", "outputs"),
    [("4", 0, ["count=4", "list=[1,2,3,4]"]), ("1", 0, ["count=1", "list=[1]"]), ("0", 1, []), ("4 ", 1, [])],
)
def test_the_shards_job_lists_the_matrix(tmp_path: Path, shards: str, code: int, outputs: list[str]) -> None:
    output = tmp_path / "github-output"
    env = {"PROMPTOPS_SHARDS": shards, "GITHUB_OUTPUT": str(output)}
    assert run_script(step_named(PROMPT_WORKFLOW, "List the shards")["run"], tmp_path, env) == code
    assert (output.read_text("utf-8").splitlines() if output.exists() else []) == outputs


def test_check_fans_out_over_the_shard_matrix_and_joins_in_the_check_job() -> None:
    workflow = load(PROMPT_WORKFLOW)
    jobs = workflow["jobs"]
    assert workflow["env"]["PROMPTOPS_SHARDS"] == "1"
    assert jobs["check-shard"]["needs"] == "shards"
    assert jobs["check-shard"]["strategy"] == {
        "fail-fast": False,
        "matrix": {"shard": "${{ fromJSON(needs.shards.outputs.list) }}"},
    }
    assert jobs["check"]["needs"] == ["shards", "check-shard"]
    upload = step_named(PROMPT_WORKFLOW, "Upload the shard's results")
    assert (upload["if"], upload["with"]["name"]) == ("${{ !cancelled() }}", "promptops-shard-${{ matrix.shard }}")
    download = step_named(PROMPT_WORKFLOW, "Fetch the shards' results")
    assert download["if"] == "needs.shards.outputs.count != '1'"
    assert download["with"] == {"pattern": "promptops-shard-*", "path": "promptops-shards", "merge-multiple": True}
    # The join comes before the report's steps: the sticky comment posts the joined report.
    names = [step.get("name") for step in jobs["check"]["steps"]]
    assert (
        names.index("Fetch the shards' results") < names.index("Check the changed prompts") < names.index(STICKY_STEP)
    )


@pytest.mark.parametrize(
    ("shards", "argv"),
    [
        (
            "1",
            [
                "check", "--base", "origin/main", "--format", "github", "--report", "promptops-report.md",
                "--html", "promptops-report.html", "--junit", "promptops-junit.xml",
            ],
        ),
        (
            "4",
            [
                "check", "--base", "origin/main", "--format", "github", "--report", "promptops-report.md",
                "--html", "promptops-report.html", "--junit", "promptops-junit.xml", "--from", "promptops-shards",
            ],
        ),
    ],
)  # fmt: skip
def test_the_check_step_joins_the_shards(tmp_path: Path, fake_promptops: Path, shards: str, argv: list[str]) -> None:
    env = {"STUB_LOG": str(fake_promptops), "BASE_REF": "main", "SHARDS": shards}
    assert run_script(step_named(PROMPT_WORKFLOW, "Check the changed prompts")["run"], tmp_path, env) == 0
    assert fake_promptops.read_text("utf-8").splitlines() == argv


def test_a_shard_job_runs_its_shard_into_its_results_file(tmp_path: Path, fake_promptops: Path) -> None:
    env = {"STUB_LOG": str(fake_promptops), "BASE_REF": "main", "SHARD": "2", "SHARDS": "4"}
    assert run_script(step_named(PROMPT_WORKFLOW, "Run this shard of the experiments")["run"], tmp_path, env) == 0
    assert fake_promptops.read_text("utf-8").splitlines() == [
        *["check", "--base", "origin/main", "--format", "github"],
        *["--shard", "2/4", "--results", "promptops-shard-2.jsonl"],
    ]


@pytest.mark.parametrize(
    ("shard", "base", "argv", "outputs"),
    [
        (
            "3",
            "",
            [
                "check", "--base", "origin/main", "--format", "github", "--shard", "3/4",
                "--results", "{temp}/promptops-shard-3.jsonl",
            ],
            ["verdict=pass", "exit-code=0", "report-path="],
        ),
        (
            "",
            "origin/dev",
            [
                "check", "--base", "origin/dev", "--format", "github", "--report", "promptops-report.md",
                "--html", "promptops-report.html", "--from", "{temp}/promptops-shards",
            ],
            ["verdict=pass", "exit-code=0", "report-path=promptops-report.md"],
        ),
    ],
)  # fmt: skip
def test_the_action_runs_a_shard_or_joins_them(
    tmp_path: Path, fake_promptops: Path, shard: str, base: str, argv: list[str], outputs: list[str]
) -> None:
    output, temp = tmp_path / "github-output", tmp_path / "temp"
    env = {
        "STUB_LOG": str(fake_promptops), "GITHUB_OUTPUT": str(output), "GITHUB_BASE_REF": "main", "COMMAND": "check",
        "BASE": base, "PROMPT": "", "TO_VERSION": "", "HOST": "", "REPORT": "promptops-report.md",
        "HTML": "promptops-report.html", "SHARDS": "4",
        "SHARD": shard, "RUNNER_TEMP": str(temp),
    }  # fmt: skip
    assert run_script(step_named(ACTION, "Run promptops")["run"], tmp_path, env, action=True) == 0
    assert fake_promptops.read_text("utf-8").splitlines() == [a.format(temp=temp) for a in argv]
    assert output.read_text("utf-8").splitlines() == outputs


def test_a_sharded_action_check_needs_a_base(tmp_path: Path, fake_promptops: Path) -> None:
    output = tmp_path / "github-output"
    env = {
        "STUB_LOG": str(fake_promptops), "GITHUB_OUTPUT": str(output), "COMMAND": "check", "BASE": "", "PROMPT": "",
        "TO_VERSION": "", "HOST": "", "REPORT": "promptops-report.md", "SHARDS": "4", "SHARD": "1",
        "RUNNER_TEMP": str(tmp_path),
    }  # fmt: skip
    assert run_script(step_named(ACTION, "Run promptops")["run"], tmp_path, env, action=True) == 0
    assert not fake_promptops.exists()
    assert output.read_text("utf-8").splitlines() == ["verdict=fail", "exit-code=2", "report-path="]


def test_the_action_uploads_a_shard_and_comments_only_the_joined_report() -> None:
    upload = step_named(ACTION, "Upload the shard's results")
    assert (
        upload["if"] == "${{ !cancelled() && inputs.command == 'check' && inputs.shards != '1' && inputs.shard != '' }}"
    )
    assert upload["with"]["name"] == "promptops-shard-${{ inputs.shard }}"
    download = step_named(ACTION, "Fetch the shards' results")
    assert download["if"] == "inputs.command == 'check' && inputs.shards != '1' && inputs.shard == ''"
    assert download["with"]["pattern"] == "promptops-shard-*"
    assert step_named(ACTION, STICKY_STEP)["if"].endswith("&& (inputs.shards == '1' || inputs.shard == '')")
