"""Random sequences of what people do to one prompt (edit, commit, revert, sync, rollback, check) keep the release
invariants, on the local registry and on Langfuse (the double):

- content is never stored twice, and every decision label names the content of its own version;
- production is only on a version that passed its gate (or was chosen by rollback);
- a rollback holds: until git changes the prompt, no sync moves production;
- a rejected content never exits 0: sync and diff fail while git holds it.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptops.registry.labels import Decisions, short_hash
from tests.helpers import git, run_cli
from tests.test_release_state import WORSE
from tests.test_sync_kill import BETTER, QUESTION, Target, assert_invariants, target_for

OTHER = "  Answer with just the name.\n"
WORDINGS = {"better": BETTER, "worse": WORSE, "other": OTHER, "plain": ""}
# Weighted so the interesting states come up: a release needs an edit and a sync, a rollback two releases.
STEPS = st.lists(
    st.sampled_from(
        ["better", "worse", "other", "plain", "revert", "sync", "sync", "sync", "rollback", "rollback", "check"]
    ),
    min_size=4,
    max_size=12,
)


class Story:
    """One repository and registry, the steps taken, and what the invariants need to remember."""

    def __init__(self, reg: Target, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.reg, self.root, self.capsys = reg, root, capsys
        self.held_at: tuple[str, int] | None = None  # (content rolled back from, production) of the last rollback

    def cli(self, *args: str) -> tuple[int, str]:
        run = run_cli(self.capsys, "--project", str(self.root), "--registry", self.reg.name, *args)
        assert "Traceback" not in run.out + run.err, run.err
        return run.code, run.out

    def git_content(self) -> str:
        code, out = self.cli("render", "capital-cities", "--json")
        assert code == 0
        return str(json.loads(out)["content_hash"])

    def production(self) -> int | None:
        versions = self.reg.versions().get("capital-cities", [])
        return next((v.version for v in versions if "production" in v.labels), None)

    def rejected_in_git(self) -> bool:
        """Whether git's content is stored and was rejected (on any experiment: the experiment never changes here)."""
        content = short_hash(self.git_content())
        versions = self.reg.versions().get("capital-cities", [])
        return any(h == content for v in versions for h, _ in Decisions.of(v.labels).rejected)

    def reword(self, line: str, message: str) -> None:
        """Make `line` capital-cities' only instruction and commit (an empty commit when it already was)."""
        path = self.root / "prompts" / "capital-cities.yaml"
        text = path.read_text("utf-8")
        for known in WORDINGS.values():
            if known:
                text = text.replace(known, "")
        path.write_text(text.replace(QUESTION, line + QUESTION), "utf-8")
        git(self.root, "commit", "-q", "--allow-empty", "-am", message)

    def step(self, what: str) -> None:
        if what in WORDINGS:
            self.reword(WORDINGS[what], f"wording: {what}")
        elif what == "revert":
            if git(self.root, "rev-list", "--count", "HEAD").strip() != "1":  # the file as it was one commit ago
                git(self.root, "checkout", "HEAD~1", "--", "prompts/capital-cities.yaml")
                git(self.root, "commit", "-q", "--allow-empty", "-am", "revert")
        elif what == "sync":
            self.sync()
        elif what == "rollback":
            before = self.production()
            code, _ = self.cli("rollback", "capital-cities", "--yes")
            if code == 0:
                assert before is not None and self.production() != before
                left = next(v for v in self.reg.versions()["capital-cities"] if v.version == before)
                self.held_at = (left.content_hash, self.production() or 0)
        elif what == "check" and git(self.root, "rev-list", "--count", "HEAD").strip() != "1":
            before = (self.reg.snapshot(), self.reg.activity())
            code, out = self.cli("check", "--base", "HEAD~1", "--format", "json")
            changed = [p["name"] for p in json.loads(out)["prompts"]]
            if self.rejected_in_git() and changed:
                assert code == 1, "check passed a content the gate rejected"
            assert (self.reg.snapshot(), self.reg.activity()) == before, "check wrote to the registry"
        assert_invariants(self.reg)

    def sync(self) -> None:
        code, _ = self.cli("sync", "--json")
        diff_code, _ = self.cli("diff")
        if self.rejected_in_git():
            assert (code, diff_code) == (1, 1), "a rejected content exited 0"
        else:  # nothing else can fail here: a failed gate leaves git's content rejected
            assert (code, diff_code) == (0, 0)
        if self.held_at is not None:
            content, production = self.held_at
            if self.git_content() == content:
                assert self.production() == production, "a sync promoted content production was rolled back from"
            else:
                self.held_at = None  # git changed the prompt: the hold is over


def run_story(kind: str, steps: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Sync the examples, take the steps on a fresh repository and registry of `kind`, then sync once more."""
    with tempfile.TemporaryDirectory() as tmp, target_for(kind, Path(tmp) / "repo", monkeypatch) as (reg, root):
        story = Story(reg, root, capsys)
        story.sync()
        for what in steps:
            story.step(what)
        story.sync()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_random_release_sequences_keep_the_invariants_locally(
    steps: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_story("local", steps, capsys, monkeypatch)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_random_release_sequences_keep_the_invariants_on_langfuse(
    steps: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_story("langfuse", steps, capsys, monkeypatch)
