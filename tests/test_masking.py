"""Secrets masked by value, everywhere: Langfuse uploads (versions' commitMessage, datasets), the base URL's
password, the crash log (with redact.patterns), check's diagnostics, and variables named in `redact.env`.

The secret values here match no credential pattern, so only masking by value can hide them. The hostile pull
requests of tests/test_bad_input.py check the same for stdout, stderr, reports, summaries and the local store.
"""

from __future__ import annotations

import json
import socket
import uuid
from pathlib import Path

import pytest

from tests.helpers import git, git_init, make_project, run_cli, write_files
from tests.langfuse_double.server import LangfuseDouble

SECRET = "lfsecret-canary-9a8b7c6d5e"
PASSWORD = "urlpass-canary-4f3e2d"
EMAIL = "jane.doe@example.com"
TICKET = "ACME-123456"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository with the example prompts, a pattern of its own, and no Langfuse settings."""
    root = make_project(tmp_path / "repo", examples=True)
    (root / "promptops.yaml").write_text("prompts_dir: prompts\nredact:\n  patterns: ['ACME-\\d{6}']\n", "utf-8")
    git_init(root)
    for key in ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "LANGFUSE_BASE_URL", "LANGFUSE_HOST"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PROMPTOPS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(root)
    return root


def test_nothing_secret_or_personal_reaches_langfuse(
    capsys: pytest.CaptureFixture[str], repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    faq = repo / "prompts" / "datasets" / "support-faq.yaml"
    text = faq.read_text("utf-8")
    text = text.replace("description:", f"metadata: {{contact: {EMAIL}, ticket: {TICKET}}}\ndescription: {EMAIL}", 1)
    faq.write_text(text, "utf-8")
    capital = repo / "prompts" / "capital-cities.yaml"
    capital.write_text(capital.read_text("utf-8").replace("  Question:", "  Answer briefly.\n  Question:"), "utf-8")
    git(repo, "commit", "-qam", f"Prompts for {EMAIL} ({TICKET}) with {SECRET}")
    with LangfuseDouble(secret_key=SECRET) as double:
        for key, value in double.env.items():
            monkeypatch.setenv(key, value)
        run = run_cli(capsys, "sync")
        assert run.code == 0, run.out + run.err
        (version,) = double.prompts("capital-cities")  # the commit that last changed the prompt's files
        assert version["commitMessage"].rsplit(" (git", 1)[0] == (
            "Prompts for [REDACTED email] ([REDACTED]) with [REDACTED LANGFUSE_SECRET_KEY]"
        )
        stored = next(d for d in double.datasets() if d["name"] == "support-faq")
        assert stored["description"].startswith("[REDACTED email] Support questions")
        assert stored["metadata"] == {"contact": "[REDACTED email]", "ticket": "[REDACTED]"}
        sent = json.dumps([r.body for r in double.requests()], default=str)
        spans = json.dumps([(s.attributes, s.status_message) for s in double.spans()], default=str)
        assert SECRET not in sent + spans + run.out + run.err
        assert EMAIL not in sent + spans and TICKET not in sent + spans
        double.log.clear()
        assert run_cli(capsys, "sync").code == 0  # compared masked: nothing is uploaded again
        assert [r.path for r in double.requests() if r.is_write] == []
    double.assert_no_violations()


def test_a_password_in_the_base_url_is_never_printed_or_reported(
    capsys: pytest.CaptureFixture[str], repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    key = uuid.uuid4().hex  # the SDK keeps one client per public key per process: a key of this test's own
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", f"pk-lf-{key}")
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", f"sk-lf-{key}")
    monkeypatch.setenv("LANGFUSE_BASE_URL", f"http://promptops:{PASSWORD}@127.0.0.1:{port}")
    git(repo, "checkout", "-qb", "pr")
    write_files(repo, {"prompts/capital-cities.yaml": (repo / "prompts" / "capital-cities.yaml").read_text() + "\n"})
    checked = run_cli(capsys, "check", "--base", "main", "--report", "report.md")
    diffed = run_cli(capsys, "diff")
    assert (repo / "report.md").exists(), checked.out + checked.err
    report = (repo / "report.md").read_text("utf-8")
    masked = f"http://promptops:[REDACTED password]@127.0.0.1:{port}"
    assert masked in checked.err and masked in report  # the baseline source says why it is the base ref
    assert diffed.code == 1 and masked in diffed.err
    assert PASSWORD not in checked.out + checked.err + report + diffed.out + diffed.err


def test_the_crash_log_honours_redact_patterns_and_secret_values(
    capsys: pytest.CaptureFixture[str], repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from promptops import api

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"bug while reading {TICKET} of {EMAIL} with {SECRET}")

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setattr(api, "validate", broken)
    run = run_cli(capsys, "validate")
    log = (tmp_path / "home" / "promptops-crash.log").read_text("utf-8")
    assert run.code == 3
    assert "bug while reading [REDACTED] of [REDACTED email] with [REDACTED OPENAI_API_KEY]" in log
    assert "[REDACTED OPENAI_API_KEY]" in run.err and SECRET not in run.err
    assert TICKET not in log and EMAIL not in log and SECRET not in log


def test_check_masks_its_validation_diagnostics_validate_only_credentials(
    capsys: pytest.CaptureFixture[str], repo: Path
) -> None:
    # check's stdout is a CI log, as public as its report: masked alike. validate is the author's tool: a problem
    # must show the value to be fixable, so it masks credentials and secret values only.
    git(repo, "checkout", "-qb", "pr")
    write_files(repo, {"prompts/bad.yaml": f"prompt: hi\ntags: {EMAIL}\nexperiment: {{skip: x}}\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "bad")
    for fmt in ("text", "github"):
        checked = run_cli(capsys, "check", "--base", "main", "--format", fmt)
        assert checked.code == 1
        assert "tags: '[REDACTED email]' is not of type 'array'" in checked.out and EMAIL not in checked.out
    validated = run_cli(capsys, "validate")
    assert f"tags: '{EMAIL}' is not of type 'array'" in validated.out


def test_variables_named_in_redact_env_are_masked_by_value(
    capsys: pytest.CaptureFixture[str], repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "promptops.yaml").write_text("prompts_dir: prompts\nredact: {env: [ACME_TOKEN]}\n", "utf-8")
    write_files(repo, {"prompts/echo.yaml": "prompt: token tok-canary-31337 here\nexperiment: {skip: x}\n"})
    monkeypatch.setenv("ACME_TOKEN", "tok-canary-31337")
    run = run_cli(capsys, "render", "echo")
    assert (run.code, run.out) == (0, "token [REDACTED ACME_TOKEN] here\n")
