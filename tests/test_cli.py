"""The CLI shell: help on every command, version, exit codes, no tracebacks, fast start-up imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from promptops.cli import COMMANDS, cli
from tests.helpers import REPO_ROOT, make_project, run_cli


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "--version")
    assert result.code == 0
    assert result.out.strip() == "promptops, version 0.1.0"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help_text(capsys: pytest.CaptureFixture[str], name: str) -> None:
    command = cli.get_command(click.Context(cli), name)
    assert command is not None and command.help and command.help.strip(), f"{name} has no help text"
    result = run_cli(capsys, name, "--help")
    assert result.code == 0
    assert result.out.startswith(f"Usage: promptops {name}")
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"{name} {param.opts} has no help text"


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "frobnicate")
    assert result.code == 64
    assert "No such command 'frobnicate'" in result.err


def test_a_usage_error_never_shares_diffs_pending_code(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    make_project(tmp_path, examples=True)
    bad = run_cli(capsys, "--project", str(tmp_path), "diff", "--bogus")
    assert (bad.code, bad.err.splitlines()[-1]) == (64, "Error: No such option '--bogus'.")
    pending = run_cli(capsys, "--project", str(tmp_path), "--registry", "local", "diff")
    assert (pending.code, pending.err.splitlines()[-1]) == (2, "changes pending: 2 new")


def test_global_options_also_follow_the_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LANGFUSE_PUBLIC_KEY", raising=False)
    make_project(tmp_path / "p", examples=True)
    monkeypatch.chdir(tmp_path)  # no project here: only --project after the command can find it
    result = run_cli(capsys, "status", "--registry", "local", "--project", str(tmp_path / "p"))
    assert result.code == 0, result.err
    assert result.err.splitlines()[0] == "registry: local registry at .promptops/registry.db"
    # After the command wins over before it, as the last word on a command line does.
    project = str(tmp_path / "p")
    result = run_cli(capsys, "--registry", "langfuse", "status", "--project", project, "--registry", "local")
    assert result.code == 0, result.err


def test_a_project_folder_that_does_not_exist_says_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent"
    for args in (("--project", str(missing), "validate"), ("validate", "--project", str(missing))):
        result = run_cli(capsys, *args)
        assert result.code == 64
        expected = f"Error: Invalid value for '--project': Directory '{missing}' does not exist."
        assert result.err.splitlines()[-1] == expected


def test_json_callers_get_json_errors_too(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import json

    make_project(tmp_path, examples=True)
    result = run_cli(capsys, "--project", str(tmp_path), "render", "nope", "--json")
    assert result.code == 1
    assert result.err.strip() == "error: no prompt named 'nope' in prompts/ (prompts: capital-cities, support-agent)"
    assert json.loads(result.out) == {
        "error": {
            "kind": "PromptNotFound",
            "message": "no prompt named 'nope' in prompts/ (prompts: capital-cities, support-agent)",
            "exit_code": 1,
        }
    }
    result = run_cli(capsys, "--project", str(tmp_path), "experiment", "capital-cities", "--json", "--version", "x")
    assert result.code == 64
    assert json.loads(result.out)["error"] == {
        "kind": "UsageError",
        "message": "Invalid value for '--version': 'x' is not a valid integer.",
        "exit_code": 64,
    }
    result = run_cli(capsys, "--project", str(tmp_path), "render", "nope")
    assert (result.code, result.out) == (1, "")  # text callers get text only


def test_outside_a_project_says_what_to_do(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli(capsys, "validate")
    assert result.code == 1
    assert result.err.startswith(f"error: no promptops project found in {tmp_path.resolve()}")
    assert "Traceback" not in result.err


def test_project_is_found_from_a_subfolder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(tmp_path, examples=True)
    monkeypatch.chdir(root / "prompts" / "datasets")
    result = run_cli(capsys, "validate")
    assert result.code == 0, result.out + result.err
    assert result.err.strip() == "ok: 0 error(s), 0 warning(s) in 2 prompt(s) and 2 dataset(s)"


def test_pyproject_tool_table_marks_the_project(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    make_project(tmp_path / "p", examples=True)
    (tmp_path / "p" / "promptops.yaml").unlink()
    (tmp_path / "p" / "pyproject.toml").write_text("[tool.promptops]\nprompts_dir = 'prompts'\n")
    result = run_cli(capsys, "--project", str(tmp_path / "p"), "validate")
    assert result.code == 0, result.err


def test_a_toml_error_in_pyproject_shows_the_toml_error_with_its_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_project(tmp_path, examples=True)
    (tmp_path / "promptops.yaml").unlink()
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\nversion = 0.1.0\n\n[tool.promptops]\nprompts_dir = "prompts"\n')
    monkeypatch.chdir(tmp_path / "prompts")
    result = run_cli(capsys, "validate")
    assert (result.code, result.err) == (
        1,
        f"error: {pyproject}:3:14: not valid TOML: Expected newline or end of document after a statement; "
        "promptops reads its settings from [tool.promptops] there\n",
    )


def test_invalid_config_names_the_file_and_key(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    make_project(tmp_path, examples=True)
    (tmp_path / "promptops.yaml").write_text("prompts_dir: prompts\nregistery: local\n")
    result = run_cli(capsys, "--project", str(tmp_path), "validate")
    assert result.code == 1
    assert "promptops.yaml: top level: unknown key 'registery'" in result.err


def test_render_unknown_prompt_lists_known(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    make_project(tmp_path, examples=True)
    result = run_cli(capsys, "--project", str(tmp_path), "render", "nope")
    assert result.code == 1
    assert result.err.strip() == "error: no prompt named 'nope' in prompts/ (prompts: capital-cities, support-agent)"


def test_render_with_vars_shows_the_sdk_compiled_text(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    make_project(tmp_path, examples=True)
    result = run_cli(capsys, "--project", str(tmp_path), "render", "capital-cities", "--var", "country=Peru")
    assert result.code == 0
    assert result.out.splitlines() == [
        "You are a helpful geography assistant.",
        "Question: What is the capital of {{country}}?",
        "",
        "--- compiled with country=Peru ---",
        "You are a helpful geography assistant.",
        "Question: What is the capital of Peru?",
    ]


OPTIONAL_TIER = """
    prompt: 'Hi {{ who }} of tier {{ tier }}'
    variables:
      who: {}
      tier: {required: false}
    experiment: {skip: no dataset}
"""


def test_render_warns_about_a_declared_variable_left_out(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    make_project(tmp_path, {"prompts/greet.yaml": OPTIONAL_TIER})
    result = run_cli(capsys, "--project", str(tmp_path), "render", "greet", "--var", "who=Ann")
    assert result.code == 0
    assert result.out.splitlines()[-1] == "Hi Ann of tier {{tier}}"  # what the Python SDK gives
    assert result.err.splitlines() == [
        "warning: variable 'tier' was not given: the Python SDK keeps {{tier}} in the text, the JS/TS SDK makes "
        "it '' (it is optional: the app may leave it out)"
    ]


def test_render_refuses_a_variable_the_prompt_does_not_declare(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    make_project(tmp_path, examples=True)
    result = run_cli(capsys, "--project", str(tmp_path), "render", "capital-cities", "--var", "contry=France")
    assert (result.code, result.out) == (64, "")
    assert result.err == "error: prompt 'capital-cities' has no variable 'contry' (it declares: country)\n"


def test_render_fills_a_chat_placeholder_from_json_without_sdk_noise(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    make_project(tmp_path, examples=True)
    history = '[{"role": "user", "content": "My order is late"}, {"role": "assistant", "content": "Sorry!"}]'
    args = ["render", "support-agent", "--var", "question=Where is it?", "--var", f"history={history}"]
    for name in ("company=Acme", "tone=polite", "context=Orders ship in 2 days."):
        args += ["--var", name]
    result = run_cli(capsys, "--project", str(tmp_path), *args)
    assert (result.code, result.err) == (0, "")
    compiled = result.out.split(" ---\n", 1)[1]
    assert "[user]\nMy order is late\n\n[assistant]\nSorry!\n" in compiled
    assert "NOT_GIVEN" not in compiled

    # Left out, the placeholder stays: promptops says so once, and the SDK's own logging stays off stderr.
    result = run_cli(capsys, "--project", str(tmp_path), "render", "support-agent", "--var", "question=Hi")
    assert result.code == 0
    assert [line.split(" was not given")[0] for line in result.err.splitlines()] == [
        "warning: variable 'company'",
        "warning: variable 'tone'",
        "warning: variable 'context'",
        "warning: placeholder 'history'",
    ]
    bad = run_cli(capsys, "--project", str(tmp_path), "render", "support-agent", "--var", "history=hello")
    assert (bad.code, bad.err) == (
        64,
        "error: --var history: a placeholder takes a JSON list of messages, e.g. "
        '\'[{"role": "user", "content": "Hi"}]\', not \'hello\'\n',
    )


def test_an_invalid_unrelated_prompt_does_not_block_render(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    make_project(tmp_path, {"prompts/greet.yaml": OPTIONAL_TIER, "prompts/broken.yaml": "prompt: '{{ nope }}'\n"})
    result = run_cli(capsys, "--project", str(tmp_path), "render", "greet")
    assert (result.code, result.out) == (0, "Hi {{who}} of tier {{tier}}\n")
    refused = run_cli(capsys, "--project", str(tmp_path), "render", "broken")
    assert refused.code == 1
    assert refused.err.startswith("error: the prompts do not validate (run `promptops validate`):\n")
    assert "prompts/broken.yaml:1: 'nope' is not defined" in refused.err


def test_render_rejects_malformed_var(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    make_project(tmp_path, examples=True)
    result = run_cli(capsys, "--project", str(tmp_path), "render", "capital-cities", "--var", "oops")
    assert result.code == 64
    assert "'oops' is not KEY=VALUE" in result.err


def test_schema_prints_the_shipped_prompt_schema(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    result = run_cli(capsys, "schema", "prompt")
    assert result.code == 0
    assert json.loads(result.out)["title"] == "promptops prompt file"


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys; from promptops.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('jinja2', 'jsonschema', 'langfuse', 'opentelemetry', 'git', 'yaml', 'httpx') "
        "if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True).stdout
    assert out.strip().splitlines()[-1] == "HEAVY="


def test_python_dash_m_entry_point() -> None:
    result = subprocess.run([sys.executable, "-m", "promptops", "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.strip() == "promptops, version 0.1.0"


def test_a_bug_is_exit_3_with_a_crash_log_and_no_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from promptops import api

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom with sk-lf-0123456789abcdef in it")

    make_project(tmp_path / "p", examples=True)
    monkeypatch.setenv("PROMPTOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(api, "validate", broken)
    result = run_cli(capsys, "--project", str(tmp_path / "p"), "validate")
    log = tmp_path / "home" / "promptops-crash.log"
    assert result.code == 3
    assert "Traceback" not in result.out + result.err
    assert "sk-lf-0123456789abcdef" not in result.err
    assert result.err.startswith("internal error: RuntimeError: boom with [REDACTED Langfuse secret key] in it")
    assert result.err.strip().endswith(f"(details in {log})")
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "sk-lf-0123456789abcdef" not in text


@pytest.mark.parametrize(
    "args", [("render", "capital-cities"), ("--registry", "local", "experiment", "capital-cities")]
)
def test_output_closed_early_is_exit_141_quietly(tmp_path: Path, args: tuple[str, ...]) -> None:
    # `promptops ... | head`: Click turns the broken pipe into exit 1 itself, which must not read as a crash, and
    # not as success either (a failed gate piped through head under pipefail must still fail).
    import os

    root = make_project(tmp_path / "p", examples=True)
    env = {**os.environ, "PROMPTOPS_HOME": str(tmp_path / "home")}
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line
    try:
        result = subprocess.run(
            [sys.executable, "-m", "promptops", "--project", str(root), *args],
            stdout=write, stderr=subprocess.PIPE, text=True, env=env, timeout=120,
        )  # fmt: skip
    finally:
        os.close(write)
    assert (result.returncode, result.stderr.replace("registry: local registry at .promptops/registry.db\n", "")) == (
        141, "",
    )  # fmt: skip
    assert not (tmp_path / "home" / "promptops-crash.log").exists()


def test_a_broken_pipe_that_is_not_the_output_is_a_bug(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from promptops import api

    def broken(*args: object, **kwargs: object) -> None:
        raise BrokenPipeError(32, "Broken pipe")  # e.g. a child process's pipe, while stdout is fine

    make_project(tmp_path / "p", examples=True)
    monkeypatch.setenv("PROMPTOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(api, "validate", broken)
    result = run_cli(capsys, "--project", str(tmp_path / "p"), "validate")
    assert result.code == 3 and result.err.startswith("internal error: BrokenPipeError: [Errno 32] Broken pipe")
    assert "BrokenPipeError" in (tmp_path / "home" / "promptops-crash.log").read_text()


def test_user_facing_text_never_speaks_of_a_seed_document(capsys: pytest.CaptureFixture[str]) -> None:
    # "the seed" was the project's founding text, which users do not have; `seed` is the experiment's seed.
    texts = {path.name: path.read_text("utf-8") for path in [REPO_ROOT / "README.md", *REPO_ROOT.glob("docs/*.md")]}
    for name in sorted(COMMANDS):
        texts[f"{name} --help"] = run_cli(capsys, name, "--help").out
    for path in (REPO_ROOT / "prompts").rglob("*.yaml"):
        texts[path.name] = path.read_text("utf-8")
    import re

    found = {name: re.findall(r"[^\n]*\bthe seed(?:'s)?\b(?! \d)[^\n]*", text) for name, text in texts.items()}
    assert {name: lines for name, lines in found.items() if lines} == {}
