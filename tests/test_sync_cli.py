"""The sync, rollback, history and diff command lines around sync, on real git repositories against both
registries: exact output lines, exit codes and registry state, and no write where a command promises none.
"""

from __future__ import annotations

import json
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
)

FRESH_PLAN = (
    "prompt          plan  version  release\n"
    "capital-cities  new   -        -\n"
    "  create version 1, then judge it on its floors\n"
    "support-agent   new   -        -\n"
    "  create version 1, then judge it on its floors\n"
)


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
    assert run.err.splitlines()[1:] == [
        "dataset capital-cities-tutorial (new dataset): 10 would upsert, 0 archived, 0 unchanged",
        "dataset support-faq (new dataset): 9 would upsert, 0 archived, 0 unchanged",
    ]
    assert (reg.snapshot(), reg.datasets(), reg.activity()) == ({}, [], 0 if isinstance(reg, LangfuseTarget) else {})
    if isinstance(reg, LangfuseTarget):
        assert {r.method for r in reg.double.requests()} == {"GET"}
    else:
        assert not (root / ".promptops" / "registry.db").exists()  # not even an empty database

    assert sync_in_process(capsys, reg, root).code == 0
    edit_capital_cities(root, BETTER, "Ask for only the city name")
    state, activity = reg.snapshot(), reg.activity()
    run = cli(capsys, reg, root, "sync", "--dry-run")
    assert (run.code, run.out) == (
        0,
        "prompt          plan     version  release\n"
        "capital-cities  changed  1        -\n"
        "  create version 2 and judge it against production (version 1)\n"
        "support-agent   in-sync  1        -\n"
        "  production (version 1) holds this content; nothing to do\n",
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
    assert run.code == 64
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
        f"restored prompts/capital-cities.yaml from git {first_commit[:12]} (version 1)\n"
        "the prompt renders to that version's content again; commit it so git follows the registry\n",
    )
    path = root / "prompts" / "capital-cities.yaml"
    assert path.read_text("utf-8") == git(root, "show", f"{first_commit}:prompts/capital-cities.yaml")
    assert git(root, "status", "--porcelain") == " M prompts/capital-cities.yaml\n"
    assert reg.snapshot()["capital-cities"] == (
        (1, ("content", "passed", "production", "release-1")),
        (2, ("content", "latest", "passed", "release-2", "rolled-back")),
    )

    run = cli(capsys, reg, root, "diff")
    assert (run.code, run.out) == (
        0,
        "= capital-cities  in-sync: production (version 1) holds this content; nothing to do\n"
        "                  note: the newest version is 2; production is on version 1\n"
        "= support-agent   in-sync: production (version 1) holds this content; nothing to do\n",
    )
    assert run.err.splitlines()[-1] == "in sync: 2 in-sync"
    git(root, "commit", "-qam", "Restore capital-cities to version 1")
    assert_converged(capsys, reg, root)


def test_restore_writes_the_files_of_production_and_moves_nothing(
    target: tuple[Target, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    reg, root = target
    first_commit = git(root, "rev-parse", "HEAD").strip()
    two_releases(capsys, reg, root)
    run = cli(capsys, reg, root, "restore", "capital-cities", "--version", "1")
    assert (run.code, run.out.splitlines()[0]) == (
        0,
        f"restored prompts/capital-cities.yaml from git {first_commit[:12]} (version 1)",
    )
    assert reg.snapshot() == SECOND_SYNC  # no label moved
    run = cli(capsys, reg, root, "restore", "capital-citie")
    assert (run.code, run.err.splitlines()[-1]) == (
        1,
        f"error: prompt 'capital-citie' is not in {_where(reg, root)} (did you mean capital-cities?)",
    )


def _where(reg: Target, root: Path) -> str:
    if isinstance(reg, LangfuseTarget):
        return f"Langfuse at {reg.double.base_url} (project keys pk-lf-…{reg.double.public_key[-4:]})"
    return "the local registry at .promptops/registry.db"


def test_history_json_rows(target: tuple[Target, Path], capsys: pytest.CaptureFixture[str]) -> None:
    reg, root = target
    first_commit = git(root, "rev-parse", "HEAD").strip()
    two_releases(capsys, reg, root)
    second_commit = git(root, "rev-parse", "HEAD").strip()
    created = {v.version: v.created_at for v in reg.versions()["capital-cities"]}
    write_files(root, {"prompts/support-agent.yaml": (root / "prompts/support-agent.yaml").read_text() + "# note\n"})
    git(root, "commit", "-qam", "A comment in support-agent")  # HEAD moves; capital-cities' files did not change
    assert sync_in_process(capsys, reg, root).code == 0

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
            "rolled_back": False,
            "note": "",
        },
        {
            "number": 1,
            "version": 1,
            "created_at": created[1],
            "git_commit": first_commit,
            "commit_message": f"initial prompts (git {first_commit[:12]})",
            "production": False,
            "rolled_back": False,
            "note": "",
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
    assert reg.snapshot() == {"greeting": ((1, ("content", "latest", "passed", "production", "release-1")),)}
    assert reg.datasets() == []

    write_files(root, {"prompts/greeting.yaml": greeting.replace("Hello", "Hi")})
    git(root, "commit", "-qam", "Say hi")
    run = sync_in_process(capsys, reg, root, "greeting")
    assert (run.code, outcomes(run)) == (0, {"greeting": ("promoted", 2, "release-2")})
    assert reg.snapshot() == {
        "greeting": (
            (1, ("content", "passed", "release-1")),
            (2, ("content", "latest", "passed", "production", "release-2")),
        )
    }
