"""Two syncs at once on the same prompts, on one SQLite file and on one Langfuse project: every version is released
at most once, production moves only to a version judged against the production it replaces, and a rerun then
changes nothing. Besides truly simultaneous runs, each race window is forced open deterministically: one sync
is paused (by the test wrapper, in its own process) at the window while the other runs to completion.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from promptops.errors import ConcurrentChange, PromptNotFound
from promptops.registry.base import Registry
from promptops.registry.langfuse import LangfuseRegistry
from promptops.registry.local import LocalRegistry
from tests.helpers import git_clone, run_cli
from tests.langfuse_double.server import LangfuseDouble
from tests.test_registry_contract import create, mark, rendered
from tests.test_sync_kill import (
    BETTER,
    FIRST_SYNC,
    SECOND_SYNC,
    LangfuseTarget,
    LocalTarget,
    Target,
    assert_converged,
    assert_invariants,
    edit_capital_cities,
    finish,
    outcomes,
    sync_in_process,
    target_for,
    wait_until_paused,
    wrapped,
    write_wrapper,
)

OTHER = "  Answer with just the name.\n"  # another wording that also beats version 1


@pytest.fixture(params=["local", "langfuse"])
def kind(request: pytest.FixtureRequest) -> str:
    """Return the registry kind under test."""
    return str(request.param)


@pytest.fixture
def target(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Target, Path]]:
    """Yield an empty registry of `kind` and a fresh repository with the example prompts."""
    with target_for(kind, tmp_path / "repo", monkeypatch) as found:
        yield found


def json_outcomes(out: str) -> dict[str, tuple[str, int | None, str | None]]:
    """Return name -> (outcome, version, release) from `sync --json` output of a subprocess."""
    return {r["name"]: (r["outcome"], r["version"], r["release"]) for r in json.loads(out)["prompts"]}


@pytest.mark.parametrize("phase", ["first", "second"])
def test_two_syncs_started_at_once_release_each_version_once(
    phase: str, target: tuple[Target, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reg, root = target
    wrapper = write_wrapper(tmp_path)
    if phase == "second":
        assert sync_in_process(capsys, reg, root).code == 0
        edit_capital_cities(root, BETTER, "Ask for only the city name")
    elif isinstance(reg, LocalTarget):
        # The SQLite files must exist first: two processes creating one at once is a separate bug, see
        # test_opening_a_fresh_local_registry_waits_for_a_process_holding_it. The experiment writes no prompt.
        assert run_cli(capsys, "--project", str(root), "--registry", "local", "experiment", "capital-cities").code == 0
    # Each pauses once it has planned; released together, both act on the same plan at the same moment.
    signals = [tmp_path / f"signals-{n}" for n in (1, 2)]
    both = []
    for folder in signals:
        folder.mkdir()
        both.append(wrapped(wrapper, reg, root, {"pause": "planned", "signals": str(folder)}, "sync", "--json"))
    for process, folder in zip(both, signals, strict=True):
        wait_until_paused(process, folder)
    for folder in signals:
        (folder / "go").touch()
    runs = [finish(p) for p in both]
    assert [r.code for r in runs] == [0, 0], [(r.err, json_outcomes(r.out)) for r in runs]
    assert_invariants(reg)
    assert reg.snapshot() == (FIRST_SYNC if phase == "first" else SECOND_SYNC)
    changed = ["capital-cities", "support-agent"] if phase == "first" else ["capital-cities"]
    version, release = (1, "release-1") if phase == "first" else (2, "release-2")
    for name in changed:
        seen = sorted(json_outcomes(r.out)[name] for r in runs)
        # Both may apply the same promotion (an idempotent label move); neither may make a second release.
        assert seen in (
            [("already-promoted", version, None), ("promoted", version, release)],
            [("promoted", version, release), ("promoted", version, release)],
        ), seen
    assert_converged(capsys, reg, root)


def test_a_sync_paused_after_planning_finds_the_work_done(
    target: tuple[Target, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reg, root = target
    signals = tmp_path / "signals"
    signals.mkdir()
    late = wrapped(write_wrapper(tmp_path), reg, root, {"pause": "planned", "signals": str(signals)}, "sync", "--json")
    wait_until_paused(late, signals)  # it planned: both prompts are new
    first = sync_in_process(capsys, reg, root)
    assert outcomes(first) == {
        "capital-cities": ("promoted", 1, "release-1"),
        "support-agent": ("promoted", 1, "release-1"),
    }
    (signals / "go").touch()
    run = finish(late)
    # Its version exists already and holds production: nothing to judge (judging it against itself would reject it).
    assert (run.code, json_outcomes(run.out)) == (
        0,
        {"capital-cities": ("already-promoted", 1, None), "support-agent": ("already-promoted", 1, None)},
    ), run.err
    assert reg.snapshot() == FIRST_SYNC
    assert_converged(capsys, reg, root)


def test_a_promotion_paused_while_another_checkout_promotes_becomes_a_conflict(
    target: tuple[Target, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reg, root = target
    assert sync_in_process(capsys, reg, root).code == 0
    other = tmp_path / "other"
    git_clone(root, other)
    (other / ".promptops").symlink_to(root / ".promptops")  # the same SQLite file (unused by langfuse)
    edit_capital_cities(root, BETTER, "Ask for only the city name")
    edit_capital_cities(other, OTHER, "Ask for just the name")
    signals = tmp_path / "signals"
    signals.mkdir()
    spec = {"pause": "promotion", "signals": str(signals)}
    paused = wrapped(write_wrapper(tmp_path), reg, root, spec, "sync", "--json")
    wait_until_paused(paused, signals)  # version 2 was judged against version 1 and passed
    winner = sync_in_process(capsys, reg, other)
    assert outcomes(winner)["capital-cities"] == ("promoted", 3, "release-2")
    (signals / "go").touch()
    run = finish(paused)
    assert run.code == 1, run.err
    rows = {r["name"]: r for r in json.loads(run.out)["prompts"]}
    assert (rows["capital-cities"]["outcome"], rows["capital-cities"]["version"]) == ("conflict", 2)
    assert rows["capital-cities"]["message"] == (
        "production moved from version 1 to version 3 while this run measured it; "
        "not promoting: run sync again to judge against the new baseline"
    )
    assert reg.snapshot()["capital-cities"] == (
        (1, ("content", "passed", "release-1")),
        (2, ("content",)),  # judged and passing, but not promoted: a later sync judges it against version 3
        (3, ("content", "latest", "passed", "production", "release-2")),
    )
    assert_converged(capsys, reg, other)  # git of the winning checkout is what the registry now holds


def test_a_create_paused_before_its_post_makes_no_second_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Langfuse only: a local create is one transaction, so there is no window between its re-read and insert.
    with target_for("langfuse", tmp_path / "repo", monkeypatch) as (reg, root):
        signals = tmp_path / "signals"
        signals.mkdir()
        spec = {"pause": "create-post", "signals": str(signals)}
        late = wrapped(write_wrapper(tmp_path), reg, root, spec, "sync", "--json")
        wait_until_paused(late, signals)  # it re-read `latest` (none yet) and is about to POST version 1
        assert sync_in_process(capsys, reg, root).code == 0
        (signals / "go").touch()
        run = finish(late)
        assert (run.code, json_outcomes(run.out)) == (
            0,
            {"capital-cities": ("already-promoted", 1, None), "support-agent": ("already-promoted", 1, None)},
        ), run.err
        assert reg.snapshot() == FIRST_SYNC
        # Its POST made a copy of version 1 as version 2, which it found and deleted (by number, never all).
        assert isinstance(reg, LangfuseTarget)
        deleted = [(r.path, r.query, r.status) for r in reg.double.requests("DELETE")]
        assert deleted == [("/api/public/v2/prompts/capital-cities", {"version": ["2"]}, 204)]
        assert_converged(capsys, reg, root)


# -- the compare-and-set under sync's promotions ------------------------------------------------


@pytest.fixture
def registry(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Registry]:
    """Yield an empty registry of `kind`, opened directly."""
    reg: Registry
    if kind == "local":
        reg = LocalRegistry(tmp_path / "registry.db")
    else:
        d: LangfuseDouble = request.getfixturevalue("langfuse_double")
        reg = LangfuseRegistry(d.public_key, d.secret_key, d.base_url, timeout=5, sleep=lambda _: None)
    yield reg
    reg.close()


def test_promote_moves_production_only_from_where_it_was_measured(registry: Registry) -> None:
    for text in ("v1", "v2", "v3"):
        create(registry, rendered("greeting", text))
    marks = [mark(text) for text in ("v1", "v2", "v3")]
    assert registry.promote("greeting", 1, expect_production=None).labels == (marks[0], "production", "release-1")
    with pytest.raises(ConcurrentChange) as lost:
        registry.promote("greeting", 2, expect_production=None)  # judged when nothing held production
    assert str(lost.value) == "greeting: production moved from no version to version 1 since it was read"
    assert registry.get_version("greeting", version=2).labels == (marks[1],)  # refused: nothing moved
    promoted = registry.promote("greeting", 3, expect_production=1).labels
    assert promoted == (marks[2], "latest", "production", "release-2")
    assert registry.promote("greeting", 2, expect_production=3).labels == (marks[1], "production", "release-3")
    assert registry.all_labels("greeting") == (
        *sorted(marks),
        "latest",
        "production",
        "release-1",
        "release-2",
        "release-3",
    )
    with pytest.raises(PromptNotFound):
        registry.promote("greeting", 7, expect_production=2)


def test_langfuse_promote_notices_a_move_right_after_its_own(
    langfuse_double: LangfuseDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = langfuse_double
    reg = LangfuseRegistry(d.public_key, d.secret_key, d.base_url, timeout=5, sleep=lambda _: None)
    for text in ("v1", "v2", "v3"):
        create(reg, rendered("greeting", text))
    reg.promote("greeting", 1, expect_production=None)
    patch = reg.set_labels

    def and_another_run_right_after(name: str, version: int, labels: list[str]) -> object:
        """Our PATCH, then the PATCH of a run that passed its check at the same moment (the window left open)."""
        ours = patch(name, version, labels)
        patch(name, 3, labels)
        return ours

    monkeypatch.setattr(reg, "set_labels", and_another_run_right_after)
    with pytest.raises(ConcurrentChange) as lost:
        reg.promote("greeting", 2, expect_production=1)
    assert str(lost.value) == "greeting: production moved from version 2 to version 3 since it was read"
    reg.close()


def test_opening_a_fresh_local_registry_waits_for_a_process_holding_it(tmp_path: Path) -> None:
    path = tmp_path / ".promptops" / "registry.db"
    path.parent.mkdir()
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another sync, half way through creating the file
    releases = threading.Timer(0.2, lambda: other.execute("COMMIT"))
    releases.start()
    reg = LocalRegistry(path)
    try:
        assert reg.create_raw_version("greeting", "Hello", {}).version == 1  # waits, as every other write does
    finally:
        releases.join()
        other.close()
        reg.close()
