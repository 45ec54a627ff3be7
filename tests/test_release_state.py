"""The release state model end to end (docs/release-state.md): the sequences users run off the straight path,
on real git repositories against both registries, with the exact registry state after every step.

Each test is one of the sequences that broke before content addressing: a rollback undone by the next sync,
identical content stored twice, diffs against the newest version instead of production, a rejected release
turning green on a re-run, experiment changes nobody saw, a dataset overwritten from a working tree, provenance
claiming a commit that lacks the change, writes to Langfuse nobody was asked about, history naming the wrong
commit, and rollback onto a version the gate never released.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from promptops import api
from promptops.api.planning import fingerprints
from tests.helpers import git, write_files
from tests.test_sync_cli import cli
from tests.test_sync_kill import (
    BETTER,
    FIRST_SYNC,
    SECOND_SYNC,
    LangfuseTarget,
    Target,
    assert_invariants,
    edit_capital_cities,
    normalized,
    outcomes,
    sync_in_process,
)

WORSE = "  Answer in JSON.\n"
OTHER = "  Answer with just the name.\n"  # another wording that beats the prompt without an instruction
CAPITAL = "prompts/capital-cities.yaml"
DATASET = "prompts/datasets/capital-cities-tutorial.yaml"


def replace_instruction(root: Path, line: str, message: str) -> None:
    """Make `line` the only instruction before capital-cities' question, and commit."""
    path = root / CAPITAL
    plain = path.read_text("utf-8")
    for known in (BETTER, WORSE, OTHER):
        plain = plain.replace(known, "")
    path.write_text(plain, "utf-8")
    edit_capital_cities(root, line, message)


def status(capsys: pytest.CaptureFixture[str], reg: Target, root: Path) -> dict[str, tuple[str, str]]:
    """Return name -> (status, action) from `status --json`."""
    run = cli(capsys, reg, root, "status", "--json")
    assert run.code == 0, run.err
    return {row["name"]: (row["status"], row["action"]) for row in json.loads(run.out)}


def capital(reg: Target) -> tuple[tuple[int, tuple[str, ...]], ...]:
    """Return capital-cities' versions with their labels (decision labels by kind)."""
    return reg.snapshot()["capital-cities"]


def released_twice(capsys: pytest.CaptureFixture[str], reg: Target, root: Path) -> None:
    """Sync the examples, then a better capital-cities: release-1 is version 1, release-2 version 2."""
    assert sync_in_process(capsys, reg, root).code == 0
    replace_instruction(root, BETTER, "Ask for only the city name")
    assert outcomes(sync_in_process(capsys, reg, root))["capital-cities"] == ("promoted", 2, "release-2")
    assert reg.snapshot() == SECOND_SYNC


def then_rejected(capsys: pytest.CaptureFixture[str], reg: Target, root: Path) -> None:
    """After released_twice: a worse capital-cities becomes version 3, rejected."""
    replace_instruction(root, WORSE, "Ask for JSON")
    run = sync_in_process(capsys, reg, root)
    assert (run.code, outcomes(run)["capital-cities"]) == (1, ("rejected", 3, None))
    assert capital(reg)[2] == (3, ("content", "latest", "rejected"))


# -- 1: a rollback holds until git changes the prompt ---------------------------------------------------------------


def test_a_rollback_is_not_undone_by_the_next_sync(
    target: tuple[Target, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, root = target
    released_twice(capsys, reg, root)
    then_rejected(capsys, reg, root)
    git(root, "revert", "--no-edit", "HEAD")  # git is back to version 2's content: production's
    assert status(capsys, reg, root)["capital-cities"] == (
        "in-sync",
        "production (version 2) holds this content; nothing to do",
    )
    assert cli(capsys, reg, root, "diff").code == 0

    run = cli(capsys, reg, root, "rollback", "capital-cities", "--yes")  # an incident: back to release-1
    assert (run.code, run.out) == (0, "capital-cities: production moved from version 2 to version 1 (release-1)\n")
    assert capital(reg) == (
        (1, ("content", "passed", "production", "release-1")),
        (2, ("content", "passed", "release-2", "rolled-back")),
        (3, ("content", "latest", "rejected")),
    )
    held = (
        "held",
        "production was rolled back from version 2, which has this content: sync holds it until git changes the "
        "prompt (production stays on version 1; `promptops rollback capital-cities --to 2` releases it again)",
    )
    assert status(capsys, reg, root)["capital-cities"] == held
    assert cli(capsys, reg, root, "diff").code == 0
    state, activity = reg.snapshot(), reg.activity()
    for _ in range(2):  # however often it runs
        run = sync_in_process(capsys, reg, root)
        assert (run.code, outcomes(run)["capital-cities"]) == (0, ("held", 2, None))
    assert (reg.snapshot(), reg.activity()) == (state, activity)  # no version 4, no label moved

    replace_instruction(root, OTHER, "Ask for just the name")  # git changes: the hold is over
    run = sync_in_process(capsys, reg, root)
    assert (run.code, outcomes(run)["capital-cities"]) == (0, ("promoted", 4, "release-3"))
    assert json.loads(run.out)["prompts"][0]["verdict"]["baseline_subject"] == "version 1 (production)"
    assert_invariants(reg)

    run = cli(capsys, reg, root, "rollback", "capital-cities", "--to", "2", "--yes")  # a held release, released again
    assert (run.code, run.out) == (0, "capital-cities: production moved from version 4 to version 2 (release-2)\n")
    git(root, "revert", "--no-edit", "HEAD")  # and git follows it
    assert status(capsys, reg, root)["capital-cities"][0] == "in-sync"


# -- 2: identical content is never stored twice ----------------------------------------------------------------------


def test_content_equal_to_an_older_version_is_judged_as_that_version(
    target: tuple[Target, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, root = target
    released_twice(capsys, reg, root)
    git(root, "revert", "--no-edit", "HEAD")  # back to version 1's content: an earlier release, not production
    assert status(capsys, reg, root)["capital-cities"] == (
        "earlier-release",
        "version 1 was released before (release-1): judge it against production (version 2) and promote it "
        "without a new version if it wins",
    )
    run = sync_in_process(capsys, reg, root)
    assert (run.code, outcomes(run)["capital-cities"]) == (1, ("rejected", 1, None))  # version 2 is better
    assert capital(reg) == (
        (1, ("content", "passed", "rejected", "release-1")),
        (2, ("content", "latest", "passed", "production", "release-2")),
    )
    git(root, "revert", "--no-edit", "HEAD")  # and forward again: production's content
    run = sync_in_process(capsys, reg, root)
    assert (run.code, outcomes(run)["capital-cities"]) == (0, ("unchanged", 2, None))
    assert len(capital(reg)) == 2
    assert_invariants(reg)


def test_a_pending_version_that_is_not_the_newest_is_judged_not_copied(
    target: tuple[Target, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, root = target
    assert sync_in_process(capsys, reg, root).code == 0
    replace_instruction(root, BETTER, "Ask for only the city name")
    assert cli(capsys, reg, root, "push").code == 0  # version 2, never judged (a sync killed after creating it)
    replace_instruction(root, OTHER, "Ask for just the name")
    assert cli(capsys, reg, root, "push").code == 0  # version 3
    replace_instruction(root, BETTER, "Back to only the city name")
    assert status(capsys, reg, root)["capital-cities"] == (
        "pending",
        "version 2 has this content and awaits the gate: judge it against production (version 1)",
    )
    run = sync_in_process(capsys, reg, root)
    assert (run.code, outcomes(run)["capital-cities"]) == (0, ("promoted", 2, "release-2"))
    assert [v for v, _ in capital(reg)] == [1, 2, 3]
    assert_invariants(reg)


# -- 3: diff and status show git against production -----------------------------------------------------------------


def test_diff_compares_with_production_not_with_the_newest_version(
    target: tuple[Target, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, root = target
    released_twice(capsys, reg, root)
    then_rejected(capsys, reg, root)
    path = root / CAPITAL
    path.write_text(path.read_text("utf-8").replace(WORSE, "  Answer briefly.\n"), "utf-8")
    run = cli(capsys, reg, root, "diff")
    assert run.code == 2
    assert run.out.splitlines() == [
        "~ capital-cities  changed: create version 4 and judge it against production (version 2)",
        "                  note: the newest version is 3; production is on version 2",
        "--- capital-cities v2 (production)",
        "+++ capital-cities (git)",
        "@@ -1,3 +1,3 @@",
        " You are a helpful geography assistant.",
        "-Answer with only the city name.",
        "+Answer briefly.",
        " Question: What is the capital of {{country}}?",
        "= support-agent   in-sync: production (version 1) holds this content; nothing to do",
    ]


# -- 4: a rejected release stays red until git changes ----------------------------------------------------------------


def test_a_rejected_release_fails_every_rerun_until_git_changes(
    target: tuple[Target, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, root = target
    released_twice(capsys, reg, root)
    then_rejected(capsys, reg, root)
    state = reg.snapshot()
    run = sync_in_process(capsys, reg, root)  # CI's "re-run failed jobs"
    assert (run.code, outcomes(run)["capital-cities"]) == (1, ("rejected-earlier", 3, None))
    assert json.loads(run.out)["prompts"][0]["message"] == (
        "version 3 has this content and was rejected by the gate: change the prompt in git (production stays on "
        "version 2)"
    )
    assert reg.snapshot() == state  # nothing run, nothing labelled
    run = cli(capsys, reg, root, "diff")
    assert run.code == 1
    assert run.err.splitlines()[-1] == "rejected content in git: 1 in-sync, 1 rejected"
    run = cli(capsys, reg, root, "sync")
    assert run.code == 1
    assert run.out.splitlines()[-3:] == [
        "capital-cities  rejected-earlier  3        -",
        "  version 3 has this content and was rejected by the gate: change the prompt in git (production stays on "
        "version 2)",
        "support-agent   unchanged         1        -",
    ]


# -- 5: the experiment is part of the release -------------------------------------------------------------------------


def test_a_dataset_change_reruns_production_and_is_in_the_plan(
    target: tuple[Target, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, root = target
    assert sync_in_process(capsys, reg, root).code == 0
    before = fingerprints(api.valid_project(api.load_settings(root)))["capital-cities"]
    path = root / DATASET
    path.write_text(path.read_text("utf-8").replace("expected_output: Paris}", 'expected_output: "Paris, France"}'))
    git(root, "commit", "-qam", "Expect the country too")
    after = fingerprints(api.valid_project(api.load_settings(root)))["capital-cities"]
    assert after != before
    rerun = (
        "experiment-changed",
        "the experiment changed since production (version 1) was judged: run it again; it must still meet its floors",
    )
    assert status(capsys, reg, root) == {
        "capital-cities": rerun,
        "support-agent": ("in-sync", "production (version 1) holds this content; nothing to do"),
    }
    assert cli(capsys, reg, root, "diff").code == 2
    dry = cli(capsys, reg, root, "sync", "--dry-run")
    assert dry.code == 0
    assert "dataset capital-cities-tutorial: 1 would upsert, 0 archived, 9 unchanged" in dry.err.splitlines()
    assert dry.out.splitlines()[1] == "capital-cities  experiment-changed  1        -"

    run = sync_in_process(capsys, reg, root)
    assert (run.code, outcomes(run)["capital-cities"]) == (0, ("verified", 1, None))
    verdict = json.loads(run.out)["prompts"][0]["verdict"]
    assert (verdict["passed"], verdict["baseline_subject"]) == (True, None)  # judged alone, on its floors
    (only,) = reg.versions()["capital-cities"]
    assert normalized(only, after) == ("content", "latest", "passed", "passed@old", "production", "release-1")
    assert status(capsys, reg, root)["capital-cities"][0] == "in-sync"

    # A stricter gate (part of the fingerprint) that production does not meet: it stays, and sync says why.
    path = root / CAPITAL
    path.write_text(path.read_text("utf-8").replace("mentions_capital: 0.8", "mentions_capital: 1.0"))
    git(root, "commit", "-qam", "Demand every capital")
    run = sync_in_process(capsys, reg, root)
    assert (run.code, outcomes(run)["capital-cities"]) == (1, ("rejected", 1, None))
    assert json.loads(run.out)["prompts"][0]["message"].startswith(
        "production (version 1) no longer meets its gate on the changed experiment: "
    )
    assert cli(capsys, reg, root, "diff").code == 1
    assert sync_in_process(capsys, reg, root).code == 1  # and it stays red until git changes
    assert [v for v, _ in capital(reg)] == [1]


def test_check_runs_a_prompt_whose_experiment_changed(
    target: tuple[Target, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, root = target
    assert sync_in_process(capsys, reg, root).code == 0
    git(root, "checkout", "-qb", "pr")
    path = root / DATASET
    path.write_text(path.read_text("utf-8").replace("expected_output: Paris}", "expected_output: Lyon}"))
    git(root, "commit", "-qam", "A wrong expectation")
    run = cli(capsys, reg, root, "check", "--base", "main", "--format", "json")
    data = json.loads(run.out)
    (prompt,) = data["prompts"]
    assert (prompt["name"], prompt["status"], prompt["passed"]) == ("capital-cities", "experiment changed", True)
    assert prompt["baseline"] == "production version 1 from the registry, judged alone on the changed experiment"
    assert run.code == 0  # mentions_capital 0.9 still meets the floor 0.8


# -- 6: experiment never writes Langfuse's dataset from a working tree ------------------------------------------------


@pytest.mark.parametrize("target", ["langfuse"], indirect=True)
def test_experiment_does_not_overwrite_the_shared_dataset(
    target: tuple[Target, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, root = target
    assert isinstance(reg, LangfuseTarget)
    assert sync_in_process(capsys, reg, root).code == 0
    path = root / DATASET
    path.write_text(path.read_text("utf-8").replace("expected_output: Paris}", "expected_output: Lyon}"))
    registry_paths = ("/api/public/v2/prompts*", "/api/public/v2/datasets*", "/api/public/dataset-items*")

    def registry_writes() -> int:
        return sum(reg.double.count_writes(p) for p in registry_paths)

    writes = registry_writes()
    run = cli(capsys, reg, root, "experiment", "capital-cities")
    assert run.code == 0, run.err
    assert run.err.splitlines()[-1] == (
        f"note: {DATASET} has uncommitted changes: the run used the local items and is not linked to the dataset "
        f"'capital-cities-tutorial' in the Langfuse at {reg.double.base_url} (project keys "
        f"pk-lf-…{reg.double.public_key[-4:]}); `promptops sync` or `push` uploads it from committed files"
    )
    france = next(i for i in reg.double.dataset_items("capital-cities-tutorial") if i["id"] == "france")
    assert france["expectedOutput"] == "Paris"
    ours = [
        s for s in reg.double.spans() if str(s.attributes.get("langfuse.experiment.description")).startswith("working")
    ]
    item_ids = {s.attributes.get("langfuse.experiment.item.id") for s in ours} - {None}
    assert item_ids and "france" not in item_ids  # not pointing at the dataset items either
    assert registry_writes() == writes  # traces and scores only: no dataset or prompt write


def test_experiment_on_content_equal_to_a_version_is_that_version(
    target: tuple[Target, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, root = target
    assert sync_in_process(capsys, reg, root).code == 0
    run = cli(capsys, reg, root, "experiment", "capital-cities", "--json")
    data = json.loads(run.out)
    assert (data["subject"], data["version"]) == ("working tree (= version 1)", 1)


# -- 7: provenance never claims a commit that lacks the change --------------------------------------------------------


def test_sync_refuses_uncommitted_prompt_files_unless_told_and_then_says_so(
    target: tuple[Target, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, root = target
    assert sync_in_process(capsys, reg, root).code == 0
    path = root / CAPITAL
    path.write_text(path.read_text("utf-8").replace("Question:", "  Answer with only the city name.\n  Question:"))
    write_files(root, {"prompts/draft.yaml": "prompt: draft\nexperiment: {skip: a draft}\n"})
    state = reg.snapshot()
    run = cli(capsys, reg, root, "sync")
    assert run.code == 1
    assert run.err.splitlines()[1:] == [
        "error: sync refuses uncommitted changes under prompts/: no git commit holds what it would store.",
        "  prompts/capital-cities.yaml",
        "  prompts/draft.yaml",
        "commit them first, or pass --allow-dirty to record these versions as made from uncommitted files",
    ]
    assert cli(capsys, reg, root, "push").code == 1
    assert reg.snapshot() == state

    run = sync_in_process(capsys, reg, root, "--allow-dirty", "capital-cities")
    assert outcomes(run)["capital-cities"] == ("promoted", 2, "release-2")
    v2 = reg.versions()["capital-cities"][1]
    head = git(root, "rev-parse", "HEAD").strip()
    assert v2.provenance is not None and (v2.provenance.dirty, v2.provenance.git_commit) == (True, head)
    run = cli(capsys, reg, root, "restore", "capital-cities", "--version", "2")
    assert (run.code, run.err.splitlines()[-1]) == (
        1,
        "error: capital-cities version 2 was made from uncommitted changes (sync --allow-dirty): no git commit holds "
        "its files, so they cannot be restored",
    )
    run = cli(capsys, reg, root, "history", "capital-cities")
    assert f"uncommitted changes on top of initial prompts (git {head[:12]})" in run.out


# -- 8: writes to a shared registry from a terminal ask first ---------------------------------------------------------


@pytest.mark.parametrize("answer", ["n", "y"])
def test_langfuse_from_a_terminal_shows_the_plan_and_asks(
    answer: str,
    target: tuple[Target, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reg, root = target
    monkeypatch.setattr("promptops.cli.confirm.interactive", lambda: True)
    monkeypatch.setattr("sys.stdin", io.StringIO(answer + "\n"))
    run = cli(capsys, reg, root, "sync")
    if reg.name == "local":  # this checkout's own registry: nothing to ask
        assert run.code == 0 and "Apply this plan" not in run.err
        return
    err = run.err.splitlines()
    assert "dataset capital-cities-tutorial (new dataset): 10 would upsert, 0 archived, 0 unchanged" in err
    asked = f"Apply this plan to the Langfuse at {reg.double.base_url}"
    assert [line for line in err if line.startswith(asked)] != []
    assert run.out.splitlines()[:3] == [
        "prompt          plan  version  release",
        "capital-cities  new   -        -",
        "  create version 1, then judge it on its floors",
    ]
    if answer == "n":
        assert (run.code, err[-1].endswith("[y/N]: nothing changed")) == (1, True)
        assert (reg.snapshot(), reg.datasets()) == ({}, [])
    else:
        assert run.code == 0 and reg.snapshot() == FIRST_SYNC
        assert cli(capsys, reg, root, "sync", "--yes").code == 0  # --yes never asks


def test_readme_first_command_syncs_the_embedded_registry_whatever_keys_the_shell_has() -> None:
    from tests.helpers import REPO_ROOT

    readme = (REPO_ROOT / "README.md").read_text("utf-8")
    first = readme.split("```bash\n", 1)[1].split("\n```", 1)[0]
    assert first.endswith("promptops --registry local sync")


# -- 9: history names the commit that last changed the prompt's files -------------------------------------------------


def test_a_version_records_the_commit_that_changed_its_sources(
    target: tuple[Target, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, root = target
    assert sync_in_process(capsys, reg, root).code == 0
    partial = root / "prompts" / "_partials" / "grounding.jinja"
    partial.write_text(partial.read_text("utf-8") + "Cite the article you used.\n", "utf-8")
    git(root, "commit", "-qam", "Ask the agent to cite")
    cite = git(root, "rev-parse", "HEAD").strip()
    write_files(root, {"README-prompts.md": "notes\n"})
    git(root, "add", "-A")
    git(root, "commit", "-qm", "Unrelated notes")  # HEAD moves on; the agent's files did not change
    run = sync_in_process(capsys, reg, root)
    assert outcomes(run)["support-agent"][0] in ("promoted", "rejected")
    agent = reg.versions()["support-agent"][1]
    assert agent.provenance is not None and agent.provenance.git_commit == cite
    history = json.loads(cli(capsys, reg, root, "history", "support-agent", "--json").out)
    first_commit = git(root, "rev-list", "--max-parents=0", "HEAD").strip()
    assert [r["git_commit"] for r in history][-1] == first_commit


# -- 10: rollback onto a version the gate never released --------------------------------------------------------------


def test_rollback_to_a_rejected_version_needs_an_explicit_allowance_and_says_where_production_is(
    target: tuple[Target, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, root = target
    released_twice(capsys, reg, root)
    then_rejected(capsys, reg, root)
    state = reg.snapshot()
    run = cli(capsys, reg, root, "rollback", "capital-cities", "--to", "3", "--yes")
    assert (run.code, run.err.splitlines()[-1]) == (
        1,
        "error: capital-cities: version 3 was never released (the gate rejected it): rollback --to moves production "
        "to releases only; pass --allow-unreleased to put it in production anyway",
    )
    assert reg.snapshot() == state
    run = cli(capsys, reg, root, "rollback", "capital-cities", "--to", "3", "--allow-unreleased", "--yes")
    assert (run.code, run.out) == (
        0,
        "capital-cities: production moved from version 2 to version 3 (never released by the gate)\n",
    )
    assert_invariants(reg, forced=True)
    history = cli(capsys, reg, root, "history", "capital-cities").out.splitlines()
    assert history[1].startswith("* (none)      3 ")
    assert history[-1] == (
        "production is on version 3, never released: the gate rejected it; production was moved there by hand "
        "(rollback --to)"
    )
    assert status(capsys, reg, root)["capital-cities"] == (
        "rejected",
        "production (version 3) holds this content, which failed its gate on this experiment: change the prompt or "
        "the experiment in git",
    )
    run = sync_in_process(capsys, reg, root)
    assert (run.code, outcomes(run)["capital-cities"]) == (1, ("rejected-earlier", 3, None))


# -- the PR gate follows the same plan ---------------------------------------------------------------------------


def test_check_reports_held_content_without_running_it(
    target: tuple[Target, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, root = target
    released_twice(capsys, reg, root)
    assert cli(capsys, reg, root, "rollback", "capital-cities", "--yes").code == 0
    replace_instruction(root, OTHER, "Main moves on")
    git(root, "checkout", "-qb", "pr")
    replace_instruction(root, BETTER, "Bring the old instruction back")  # version 2's content, which production left
    run = cli(capsys, reg, root, "check", "--base", "main", "--format", "json")
    (prompt,) = json.loads(run.out)["prompts"]
    assert (run.code, prompt["passed"], prompt["note"], prompt["verdict"]) == (0, True, "held", None)
    assert prompt["plan"].startswith("production was rolled back from version 2, which has this content")


# -- small things around rollback and history -------------------------------------------------------------------


def test_declining_a_rollback_says_nothing_changed(
    target: tuple[Target, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    reg, root = target
    released_twice(capsys, reg, root)
    monkeypatch.setattr("promptops.cli.confirm.interactive", lambda: True)
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    run = cli(capsys, reg, root, "rollback", "capital-cities")
    assert run.code == 1
    assert run.err.splitlines()[1] == "capital-cities: production would move from version 2 to version 1 (release-1)"
    assert run.err.splitlines()[-1] == "Move production? [y/N]: nothing changed"
    assert reg.snapshot() == SECOND_SYNC


def test_history_shows_a_production_set_outside_promptops_and_suggests_names(
    target: tuple[Target, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, root = target
    assert sync_in_process(capsys, reg, root).code == 0
    opened = api.registry_for(api.load_settings(root, registry=reg.name))
    prompt = opened.get_version("capital-cities", version=1).prompt
    assert isinstance(prompt, str)
    if isinstance(reg, LangfuseTarget):
        reg.double.store.create_prompt_version("capital-cities", prompt + " Be brief.", labels=["production"])
    else:
        opened.create_raw_version("capital-cities", prompt + " Be brief.", {}, labels=["production"])  # type: ignore[attr-defined]
    opened.close()
    lines = cli(capsys, reg, root, "history", "capital-cities").out.splitlines()
    assert lines[1].startswith("* (none)      2 ")
    assert lines[2].startswith("  release-1   1 ")
    assert lines[-1] == (
        "production is on version 2, never released: made outside promptops, production was set outside promptops"
    )
    for command in (("history",), ("rollback", "--yes")):
        run = cli(capsys, reg, root, *command, "capital-city")
        assert run.code == 1 and run.err.splitlines()[-1].endswith("(did you mean capital-cities?)"), run.err
