"""The sync, rollback, history and diff command lines around sync, on real git repositories against both
registries: exact output lines, exit codes and registry state, and no write where a command promises none.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Run, git, run_cli, write_files
from tests.test_sync_kill import (
    BETTER,
    FIRST_SYNC,
    SECOND_SYNC,
    LangfuseTarget,
    Target,
    assert_converged,
    edit_capital_cities,
    outcomes,
    sync_in_process,
    target_for,
)

FRESH_PLAN = (
    "capital-cities: would create version 1, then judge it on its floors\n"
    "support-agent: would create version 1, then judge it on its floors\n"
)


@pytest.fixture(params=["local", "langfuse"])
def target(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Target, Path]]:
    """Yield an empty registry of each kind and a fresh repository with the example prompts."""
    with target_for(str(request.param), tmp_path / "repo", monkeypatch) as found:
        yield found


def cli(capsys: pytest.CaptureFixture[str], reg: Target, root: Path, *args: str) -> Run:
    """Run `promptops --project ROOT --registry R ARGS` in this process; no traceback may leak."""
    run = run_cli(capsys, "--project", str(root), "--registry", reg.name, *args)
    assert "Traceback" not in run.out + run.err
    return run


def two_releases(capsys: pytest.CaptureFixture[str], reg: Target, root: Path) -> None:
    """Sync the examples, improve capital-cities in git and sync again: capital-cities has releases 1 and 2."""
    assert sync_in_process(capsys, reg, root).code == 0
    edit_capital_cities(root, BETTER, "Ask for only the city name")
    assert sync_in_process(capsys, reg, root).code == 0
    assert reg.snapshot() == SECOND_SYNC


def test_dry_run_writes_nothing_and_prints_the_plan(
    target: tuple[Target, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, root = target
    run = cli(capsys, reg, root, "sync", "--dry-run")
    assert (run.code, run.out) == (0, FRESH_PLAN)
    assert (reg.snapshot(), reg.datasets(), reg.activity()) == ({}, [], 0 if isinstance(reg, LangfuseTarget) else {})
    if isinstance(reg, LangfuseTarget):
        assert {r.method for r in reg.double.requests()} == {"GET"}
    else:
        assert not (root / ".promptops").exists()  # not even an empty database

    assert sync_in_process(capsys, reg, root).code == 0
    edit_capital_cities(root, BETTER, "Ask for only the city name")
    state, activity = reg.snapshot(), reg.activity()
    run = cli(capsys, reg, root, "sync", "--dry-run")
    assert (run.code, run.out) == (
        0,
        "capital-cities: would create version 2 and evaluate it\nsupport-agent: unchanged\n",
    )
    assert (reg.snapshot(), reg.activity()) == (state, activity)


def test_sync_name_touches_only_that_prompt(target: tuple[Target, Path], capsys: pytest.CaptureFixture[str]) -> None:
    reg, root = target
    run = sync_in_process(capsys, reg, root, "capital-cities")
    assert (run.code, outcomes(run)) == (0, {"capital-cities": ("promoted", 1, "release-1")})
    assert reg.snapshot() == {"capital-cities": FIRST_SYNC["capital-cities"]}
    assert reg.datasets() == ["capital-cities-tutorial"]  # support-agent's dataset is not pushed either
    if isinstance(reg, LangfuseTarget):
        assert [r.path for r in reg.double.requests() if "support" in r.path] == []

    run = sync_in_process(capsys, reg, root)
    assert (run.code, outcomes(run)) == (
        0,
        {"capital-cities": ("unchanged", 1, None), "support-agent": ("promoted", 1, "release-1")},
    )
    assert reg.snapshot() == FIRST_SYNC
    assert_converged(capsys, reg, root)


def test_rollback_dry_run_and_refusals_move_nothing(
    target: tuple[Target, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, root = target
    two_releases(capsys, reg, root)
    activity = reg.activity()

    run = cli(capsys, reg, root, "rollback", "capital-cities", "--dry-run")
    assert (run.code, run.out) == (0, "capital-cities: production would move from version 2 to version 1 (release-1)\n")

    run = cli(capsys, reg, root, "rollback", "capital-cities")  # pytest's stdin is no terminal
    assert run.code == 2
    assert run.err.splitlines()[-1] == "Error: rollback moves production now: pass --yes to confirm without a terminal"

    run = cli(capsys, reg, root, "rollback", "capital-cities", "--to", "9", "--yes")
    assert (run.code, run.out, run.err.splitlines()[1:]) == (
        1,
        "",
        ["error: prompt 'capital-cities' has no version 9 (2 version(s), the newest is 2)"],
    )
    assert run.err.startswith("registry: ")
    assert (reg.snapshot(), reg.activity()) == (SECOND_SYNC, activity)


def test_rollback_restore_file_brings_git_along(
    target: tuple[Target, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, root = target
    first_commit = git(root, "rev-parse", "HEAD").strip()
    two_releases(capsys, reg, root)

    run = cli(capsys, reg, root, "rollback", "capital-cities", "--yes", "--restore-file")
    assert (run.code, run.out) == (
        0,
        "capital-cities: production moved from version 2 to version 1 (release-1)\n"
        "restored prompts/capital-cities.yaml from git; commit it so git follows the registry\n",
    )
    path = root / "prompts" / "capital-cities.yaml"
    assert path.read_text("utf-8") == git(root, "show", f"{first_commit}:prompts/capital-cities.yaml")
    assert git(root, "status", "--porcelain") == " M prompts/capital-cities.yaml\n"
    assert reg.snapshot()["capital-cities"] == ((1, ("production", "release-1")), (2, ("latest", "release-2")))

    run = cli(capsys, reg, root, "diff")
    assert (run.code, run.out) == (
        0,
        "< capital-cities  rolled-back: git matches production (version 1); newer version 2 stays unreleased\n"
        "= support-agent   unchanged: nothing to do\n",
    )
    assert run.err.splitlines()[-1] == "in sync: 1 rolled-back, 1 unchanged"
    assert_converged(capsys, reg, root)  # sync leaves a rolled-back prompt alone


def test_history_json_rows(target: tuple[Target, Path], capsys: pytest.CaptureFixture[str]) -> None:
    reg, root = target
    first_commit = git(root, "rev-parse", "HEAD").strip()
    two_releases(capsys, reg, root)
    second_commit = git(root, "rev-parse", "HEAD").strip()
    created = {v.version: v.created_at for v in reg.versions()["capital-cities"]}

    run = cli(capsys, reg, root, "history", "capital-cities", "--json")
    assert run.code == 0, run.err
    assert json.loads(run.out) == [
        {
            "number": 2,
            "version": 2,
            "created_at": created[2],
            "git_commit": second_commit,
            "commit_message": f"Ask for only the city name (git {second_commit[:12]})",
            "production": True,
        },
        {
            "number": 1,
            "version": 1,
            "created_at": created[1],
            "git_commit": first_commit,
            "commit_message": f"initial prompts (git {first_commit[:12]})",
            "production": False,
        },
    ]


def test_a_prompt_that_skips_its_experiment_is_promoted_without_a_gate(
    target: tuple[Target, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, root = target
    greeting = 'prompt: "Hello {{ name }}"\nvariables:\n  name: {type: string}\nexperiment: {skip: no dataset yet}\n'
    write_files(root, {"prompts/greeting.yaml": greeting})
    git(root, "add", "-A")
    git(root, "commit", "-qm", "Add greeting")
    run = sync_in_process(capsys, reg, root, "greeting")
    assert run.code == 0, run.err
    assert json.loads(run.out)["prompts"] == [
        {
            "name": "greeting",
            "status": "new",
            "outcome": "promoted",
            "version": 1,
            "release": "release-1",
            "message": "promoted without a gate: no dataset yet",
            "verdict": None,
        }
    ]
    assert reg.snapshot() == {"greeting": ((1, ("latest", "production", "release-1")),)}
    assert reg.datasets() == []

    write_files(root, {"prompts/greeting.yaml": greeting.replace("Hello", "Hi")})
    git(root, "commit", "-qam", "Say hi")
    run = sync_in_process(capsys, reg, root, "greeting")
    assert (run.code, outcomes(run)) == (0, {"greeting": ("promoted", 2, "release-2")})
    assert reg.snapshot() == {"greeting": ((1, ("release-1",)), (2, ("latest", "production", "release-2")))}
