"""`promptops init`: a scaffold that validates, lints, passes its first gate, and never overwrites by surprise."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from promptops import scaffold
from promptops.cli import COMMANDS
from promptops.cli.init import init
from promptops.errors import ConfigError
from tests.helpers import git, run_cli, write_files
from tests.test_github import actionlint

SCAFFOLD_FILES = [
    "prompts/hello.yaml",
    "prompts/datasets/hello.yaml",
    "prompts/_partials/voice.jinja",
    "prompts/.schemas/prompt.schema.json",
    "prompts/.schemas/dataset.schema.json",
    ".github/workflows/promptops.yml",
]
SPEC = "promptops @ git+https://git.example/acme/promptops@c0ffee"


@pytest.fixture(autouse=True)
def spec(monkeypatch: pytest.MonkeyPatch) -> str:
    """The install source a user gives init (the test run's own promptops is an editable, local install)."""
    monkeypatch.setenv("PROMPTOPS_SPEC", SPEC)
    return SPEC


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register `init` in the CLI for this test, as promptops/cli/__init__.py will."""
    monkeypatch.setitem(COMMANDS, "init", "init")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty git repository as the current folder."""
    git(tmp_path, "init", "-q", "-b", "main")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def snapshot(root: Path) -> dict[str, bytes]:
    """Return every file below root (outside .git) with its bytes."""
    files = [p for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.relative_to(root).parts]
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in files}


def test_init_in_an_empty_repository(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = CliRunner().invoke(init, [])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:9] == [
        "created     promptops.yaml",
        *[f"created     {path}" for path in SCAFFOLD_FILES],
        "created     .gitignore",
        "",
    ]
    assert "  promptops experiment hello " in result.stdout
    assert sorted(snapshot(repo)) == sorted(["promptops.yaml", ".gitignore", *SCAFFOLD_FILES])
    assert (repo / ".gitignore").read_text("utf-8") == ".promptops/\n.venv/\n"
    workflow = (repo / ".github/workflows/promptops.yml").read_text("utf-8")
    assert f'  PROMPTOPS_SPEC: "{SPEC}"\n' in workflow
    assert "SET-ME" not in workflow and "OWNER" not in workflow
    assert (
        (repo / "prompts/hello.yaml")
        .read_text("utf-8")
        .startswith("# yaml-language-server: $schema=.schemas/prompt.schema.json\n")
    )  # a file init wrote next to it: editors need no network
    checked = run_cli(capsys, "validate")
    assert (checked.code, checked.out, checked.err) == (
        0,
        "",
        "ok: 0 error(s), 0 warning(s) in 1 prompt(s) and 1 dataset(s)\n",
    )
    linted = actionlint(".github/workflows/promptops.yml", cwd=repo)
    assert (linted.returncode, linted.stdout, linted.stderr) == (0, "", "")


def test_generated_workflow_is_the_template_with_this_install(repo: Path) -> None:
    CliRunner().invoke(init, [])
    assert (repo / ".github/workflows/promptops.yml").read_text("utf-8") == scaffold.workflow(SPEC)


def test_init_twice_refuses_and_changes_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str], registered: None
) -> None:
    assert run_cli(capsys, "init").code == 0
    before = snapshot(repo)
    again = run_cli(capsys, "init")
    assert (again.code, again.out) == (1, "")
    assert again.err == (
        "error: init would overwrite these files, so it wrote nothing (--force overwrites them):\n"
        + "".join(f"  {path}\n" for path in SCAFFOLD_FILES)
    )
    assert snapshot(repo) == before


def test_force_overwrites_the_scaffold_and_keeps_the_config(repo: Path) -> None:
    CliRunner().invoke(init, [])
    (repo / "promptops.yaml").write_text("prompts_dir: prompts\ndefault_model: mock-llm-v1\n", "utf-8")
    pristine = (repo / "prompts/hello.yaml").read_text("utf-8")
    (repo / "prompts/hello.yaml").write_text("type: text\nprompt: edited\n", "utf-8")
    result = CliRunner().invoke(init, ["--force"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:8] == [
        "kept        promptops.yaml",
        *[f"overwritten {path}" for path in SCAFFOLD_FILES],
        "",
    ]
    assert (repo / "prompts/hello.yaml").read_text("utf-8") == pristine
    assert (repo / "promptops.yaml").read_text("utf-8") == "prompts_dir: prompts\ndefault_model: mock-llm-v1\n"


def test_init_appends_the_tool_table_to_pyproject(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    original = '[project]\nname = "app"\n\n[tool.ruff]\nline-length = 100\n'
    write_files(repo, {"pyproject.toml": original, ".gitignore": "dist/"})
    result = CliRunner().invoke(init, [])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "appended    pyproject.toml"
    assert result.stdout.splitlines()[7] == "appended    .gitignore"
    text = (repo / "pyproject.toml").read_text("utf-8")
    assert text == original + "\n" + scaffold.template("pyproject-tool.toml")
    assert tomllib.loads(text)["tool"] == {"ruff": {"line-length": 100}, "promptops": {"prompts_dir": "prompts"}}
    assert not (repo / "promptops.yaml").exists()
    assert (repo / ".gitignore").read_text("utf-8") == "dist/\n.promptops/\n.venv/\n"
    assert run_cli(capsys, "validate").code == 0


def test_init_keeps_an_existing_tool_table_and_its_prompts_dir(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    original = '[tool.promptops]\nprompts_dir = "llm/prompts"\n'
    write_files(repo, {"pyproject.toml": original, ".gitignore": "/.promptops/\n"})
    result = CliRunner().invoke(init, [])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:9] == [
        "kept        pyproject.toml",
        *[f"created     llm/{path}" for path in SCAFFOLD_FILES[:-1]],
        "created     .github/workflows/promptops.yml",
        "appended    .gitignore",
        "",
    ]
    assert (repo / "pyproject.toml").read_text("utf-8") == original
    assert (repo / ".gitignore").read_text("utf-8") == "/.promptops/\n.venv/\n"
    assert '      - "llm/prompts/**"\n' in (repo / ".github/workflows/promptops.yml").read_text("utf-8")
    assert run_cli(capsys, "validate").code == 0


def test_init_refuses_a_pyproject_it_cannot_read(repo: Path) -> None:
    write_files(repo, {"pyproject.toml": "[project\n"})
    result = CliRunner().invoke(init, [])
    assert result.exit_code == 1
    assert isinstance(result.exception, ConfigError)
    assert str(result.exception).startswith("pyproject.toml: not valid TOML, so init cannot add [tool.promptops]:")
    assert snapshot(repo) == {"pyproject.toml": b"[project\n"}


def test_init_outside_a_repository_root_warns(tmp_path: Path) -> None:
    result = CliRunner().invoke(init, [], obj={"project": tmp_path})
    assert result.exit_code == 0, result.output
    assert (
        f"warning: {tmp_path} is not the root of a git repository: "
        "GitHub reads .github/workflows/promptops.yml only at the repository root\n"
    ) in result.stderr


def test_the_first_pull_request_passes_its_gate(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    CliRunner().invoke(init, [])
    git_init_commit(repo)
    git(repo, "checkout", "-q", "-b", "better")
    hello = repo / "prompts/hello.yaml"
    include = '  {% include "_partials/voice.jinja" %}\n'
    hello.write_text(hello.read_text("utf-8").replace(include, include + "  Answer with only the city name.\n"))
    git(repo, "commit", "-q", "-am", "answer with the city only")
    better = run_cli(capsys, "check", "--base", "main", "--format", "json")
    assert better.code == 0, better.err
    assert [(p["name"], p["passed"]) for p in json.loads(better.out)["prompts"]] == [("hello", True)]
    hello.write_text(hello.read_text("utf-8").replace("Answer with only the city name.", "Answer in JSON."))
    git(repo, "commit", "-q", "-am", "answer in JSON")
    not_better = run_cli(capsys, "check", "--base", "main", "--format", "json")
    assert not_better.code == 1  # exact_match stays at the baseline's 0: the gate wants an improvement
    assert [(p["name"], p["passed"]) for p in json.loads(not_better.out)["prompts"]] == [("hello", False)]


def git_init_commit(root: Path) -> None:
    """Commit everything in an initialised repository."""
    git(root, "config", "user.email", "test@example.com")
    git(root, "config", "user.name", "Test")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "add promptops")


GIT_INFO = {"vcs": "git", "requested_revision": "v0.1.0", "commit_id": "c0ffee"}


@pytest.mark.parametrize(
    ("direct_url", "spec"),
    [
        (None, None),
        (
            json.dumps({"url": "https://github.com/acme/promptops.git", "vcs_info": GIT_INFO}),
            "promptops @ git+https://github.com/acme/promptops.git@c0ffee",
        ),
        (
            json.dumps({"url": "https://files.example/promptops-0.1.0-py3-none-any.whl", "archive_info": {}}),
            "promptops @ https://files.example/promptops-0.1.0-py3-none-any.whl",
        ),
        (json.dumps({"url": "file:///home/me/promptops", "dir_info": {"editable": True}}), None),
        (json.dumps({"url": "file:///home/me/promptops", "vcs_info": GIT_INFO}), None),  # git+file://: only here
    ],
)
def test_install_spec(direct_url: str | None, spec: str | None) -> None:
    assert scaffold.install_spec(direct_url) == spec


def test_workflow_quotes_any_spec() -> None:
    text = scaffold.workflow('promptops @ git+https://x/y@"z"')
    assert '  PROMPTOPS_SPEC: "promptops @ git+https://x/y@\\"z\\""\n' in text


def test_init_is_registered(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "init")
    assert result.code == 0, result.err
    assert result.out.startswith("created     promptops.yaml\n")


def test_a_local_install_makes_init_ask_for_the_spec_and_write_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # "promptops" on PyPI is another project: a workflow holding secrets must not install it by accident, and a
    # SET-ME placeholder in the file would only fail on the runner. The test run is an editable, local install.
    monkeypatch.delenv("PROMPTOPS_SPEC")
    result = run_cli(capsys, "init")
    assert (result.code, result.out) == (1, "")
    # "from the local folder ..." for an editable install; pytest may see the checkout's own egg-info instead.
    assert result.err.startswith("error: init cannot tell where CI should install promptops from: it runs from ")
    assert "the 'promptops' on PyPI is an unrelated package" in result.err
    assert "`promptops init --spec '" in result.err
    assert result.err.endswith("or set PROMPTOPS_SPEC. init wrote nothing\n")
    assert snapshot(repo) == {}


@pytest.mark.parametrize(
    "given",
    ["SET-ME: the pip requirement", "promptops", "promptops==0.1.0", "promptops @ file:///home/me/promptops",
     "promptops @ git+https://github.com/OWNER/promptops@COMMIT", "/home/me/promptops"],
)  # fmt: skip
def test_a_spec_ci_cannot_install_is_refused(repo: Path, capsys: pytest.CaptureFixture[str], given: str) -> None:
    result = run_cli(capsys, "init", "--spec", given)
    assert result.code == 1
    assert result.err.startswith(f"error: --spec {given!r}: ")
    assert snapshot(repo) == {}


def test_the_shipped_schemas_in_this_repository_are_current() -> None:
    from promptops.schema import schema_text
    from tests.helpers import EXAMPLE_PROMPTS

    for kind in ("prompt", "dataset"):
        assert (EXAMPLE_PROMPTS / ".schemas" / f"{kind}.schema.json").read_text("utf-8") == schema_text(kind)


def test_a_local_checkout_with_an_https_origin_gets_the_exact_spec_to_give(tmp_path: Path) -> None:
    checkout = tmp_path / "promptops"
    write_files(checkout, {"README.md": "x\n"})
    git(checkout, "init", "-q", "-b", "main")
    git_init_commit(checkout)
    git(checkout, "remote", "add", "origin", "https://git.example/acme/promptops.git")
    head = git(checkout, "rev-parse", "HEAD").strip()
    assert scaffold._suggested_spec(checkout) == f"promptops @ git+https://git.example/acme/promptops.git@{head}"
    git(checkout, "remote", "set-url", "origin", "/srv/git/promptops.git")
    assert scaffold._suggested_spec(checkout) is None  # a runner cannot reach a path on this machine
