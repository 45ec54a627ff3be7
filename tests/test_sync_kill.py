"""sync is safe to kill anywhere: SIGKILL a real `python -m promptops sync` right before and right after each of its
registry writes, on a real git repository, against SQLite and against Langfuse (the double), then rerun it.

After every kill the registry already holds the invariants, one rerun reaches exactly the state an unkilled sync
reaches, and a further rerun changes nothing. The helpers here (registry readers, the invariants, the wrapper
script that counts writes and kills or pauses the process) are shared by the other tests/test_sync_*.py files.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from promptops.registry.base import Provenance, user_config
from promptops.registry.labels import LATEST, PRODUCTION, Decisions, release_numbers, short_hash
from promptops.render import content_hash
from tests.helpers import REPO_ROOT, Run, git, git_init, make_project, run_cli
from tests.langfuse_double.server import LangfuseDouble

BETTER = "  Answer with only the city name.\n"
QUESTION = "  Question: What is the capital of {{ country }}?\n"
SETTLED = {"unchanged", "held"}

# The wrapper patches the registry classes in its own process only: production code carries no test hooks.
WRAPPER = '''\
"""Run promptops' CLI with its registry writes counted: SIGKILL before/after the k-th one, or pause at a point."""
import json, os, signal, sys, time
from pathlib import Path

from promptops.registry.langfuse import LangfuseRegistry
from promptops.registry.local import LocalRegistry

SPEC = json.loads(sys.argv[1])
WRITES = ("create_version", "set_labels", "promote", "sync_dataset")
state = {"writes": 0, "depth": 0, "paused": False}


def pause(point):
    """Say `paused` and wait for `go` (files in SPEC["signals"]), once, at the chosen point."""
    if SPEC.get("pause") != point or state["paused"]:
        return
    state["paused"] = True
    folder = Path(SPEC["signals"])
    (folder / "paused").write_text(point)
    deadline = time.monotonic() + 60
    while not (folder / "go").exists():
        if time.monotonic() > deadline:
            sys.exit("wrapper: nobody said go")
        time.sleep(0.01)


def kill_if(when):
    if SPEC.get(when) == state["writes"]:
        os.kill(os.getpid(), signal.SIGKILL)


def counted(method, original):
    def wrapper(self, *args, **kwargs):
        outer = state["depth"] == 0  # a write made inside another write (e.g. promote -> PATCH) is not a new one
        if outer:
            labels = args[2] if len(args) > 2 else kwargs.get("labels", ())
            if method == "promote" or (method == "set_labels" and "production" in labels):
                pause("promotion")
            state["writes"] += 1
            if "log" in SPEC:
                with open(SPEC["log"], "a") as log:
                    print(method, file=log)
            kill_if("kill_before")
        state["depth"] += 1
        try:
            result = original(self, *args, **kwargs)
        finally:
            state["depth"] -= 1
        if outer:
            kill_if("kill_after")
        return result
    return wrapper


def planned(original):
    def wrapper(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        pause("planned")
        return result
    return wrapper


def before_post(original):
    def wrapper(self, *args, **kwargs):
        pause("create-post")
        return original(self, *args, **kwargs)
    return wrapper


for cls in (LocalRegistry, LangfuseRegistry):
    for method in WRITES:
        if hasattr(cls, method):
            setattr(cls, method, counted(method, getattr(cls, method)))
    cls.list_prompts = planned(cls.list_prompts)
if SPEC.get("pause") == "create-post":  # the SDK is slow to import: only when this point is asked for
    from langfuse.api.prompts.client import PromptsClient

    PromptsClient.create = before_post(PromptsClient.create)

from promptops.cli import main

main(sys.argv[2:])
'''


# -- registry state as the invariants see it ----------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """One stored version: number, labels (sorted), content identity, whether promptops made it, and when."""

    version: int
    labels: tuple[str, ...]
    content: str
    made_by_promptops: bool
    created_at: str
    content_hash: str = ""
    provenance: Provenance | None = None


def stored(
    version: int, kind: str, prompt: Any, config: Mapping[str, Any], labels: list[str], created_at: str
) -> Stored:
    """Build a Stored from raw registry columns (read directly, not through the code under test)."""
    prov = Provenance.from_config(config)
    content = json.dumps([kind, prompt, user_config(config)], sort_keys=True)
    made = prov is not None and prov.expected_version == version
    digest = content_hash(kind, prompt, user_config(config))
    return Stored(version, tuple(sorted(labels)), content, made, created_at, digest, prov)


Snapshot = dict[str, tuple[tuple[int, tuple[str, ...]], ...]]


class Target:
    """A registry under test: its name for --registry, the subprocess environment, and raw readers."""

    name: str

    def env(self) -> dict[str, str]:
        """Return the environment a promptops process needs for this registry."""
        raise NotImplementedError

    def versions(self) -> dict[str, list[Stored]]:
        """Return every stored version of every prompt, lowest first."""
        raise NotImplementedError

    def activity(self) -> object:
        """Return a value that changes whenever anything is written (compared around a clean sync)."""
        raise NotImplementedError

    def datasets(self) -> list[str]:
        """Return the names of the stored datasets, sorted."""
        raise NotImplementedError

    def snapshot(self) -> Snapshot:
        """Return (version, labels) per prompt: the exact state tests compare.

        Decision labels are shown by their kind (`content`, `passed`, `rejected`, `rolled-back`) when they name
        the content of the version they sit on (a label naming other content is shown as it is, and fails the
        invariants).
        """
        found = self.versions()
        return {n: tuple((v.version, normalized(v)) for v in vs) for n, vs in found.items()}


def normalized(v: Stored, fingerprint: str | None = None) -> tuple[str, ...]:
    """Return a version's labels with each decision label naming its own content replaced by its kind.

    With `fingerprint`, a `passed`/`rejected` label of another evaluation fingerprint shows as `passed@old`.
    """
    own = short_hash(v.content_hash)
    shown = []
    for label in v.labels:
        kind, _, rest = label.partition("-")
        if label.startswith("rolled-back-"):
            kind, rest = "rolled-back", label.removeprefix("rolled-back-")
        if kind in ("content", "rolled-back", "passed", "rejected") and rest[:12] == own:
            fp = rest[13:]
            shown.append(kind if fingerprint is None or not fp or fp == fingerprint[7:15] else f"{kind}@old")
        else:
            shown.append(label)
    return tuple(sorted(shown))


def base_env(home: Path) -> dict[str, str]:
    """Return this environment without Langfuse keys, with crash logs kept in `home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGFUSE_", "PROMPTOPS_"))}
    env["PROMPTOPS_HOME"] = str(home)
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


class LocalTarget(Target):
    """The SQLite registry (and runs database) of one project folder."""

    name = "local"

    def __init__(self, root: Path, home: Path) -> None:
        self.folder = root / ".promptops"
        self.home = home

    def env(self) -> dict[str, str]:
        return base_env(self.home)

    @contextmanager
    def _db(self, file: str) -> Iterator[sqlite3.Connection | None]:
        path = self.folder / file
        if not path.exists():
            yield None
            return
        db = sqlite3.connect(path)
        try:
            yield db
        finally:
            db.close()

    def versions(self) -> dict[str, list[Stored]]:
        with self._db("registry.db") as db:
            if db is None:
                return {}
            labels: dict[tuple[str, int], list[str]] = {}
            for name, version, label in db.execute("SELECT name, version, label FROM labels"):
                labels.setdefault((name, version), []).append(label)
            found: dict[str, list[Stored]] = {}
            rows = db.execute(
                "SELECT name, version, type, prompt, config, created_at FROM prompt_versions ORDER BY name, version"
            )
            for name, version, kind, prompt, config, created_at in rows:
                held = labels.get((name, version), [])
                found.setdefault(name, []).append(
                    stored(version, kind, json.loads(prompt), json.loads(config), held, created_at)
                )
            return found

    def datasets(self) -> list[str]:
        with self._db("registry.db") as db:
            return [r[0] for r in db.execute("SELECT name FROM datasets ORDER BY name")] if db else []

    def activity(self) -> object:
        counts = {}
        for file in ("registry.db", "runs.db"):
            with self._db(file) as db:
                if db is not None:
                    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
                    counts[file] = {t: db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
        return counts


class LangfuseTarget(Target):
    """A Langfuse project: the double, read through its own store."""

    name = "langfuse"

    def __init__(self, double: LangfuseDouble, home: Path) -> None:
        self.double = double
        self.home = home

    def env(self) -> dict[str, str]:
        return {**base_env(self.home), **self.double.env}

    def versions(self) -> dict[str, list[Stored]]:
        return {
            name: [
                stored(r["version"], r["type"], r["prompt"], r["config"] or {}, r["labels"], r["createdAt"])
                for r in self.double.prompts(name)
            ]
            for name in self.double.prompt_names()
        }

    def datasets(self) -> list[str]:
        return sorted(d["name"] for d in self.double.datasets())

    def activity(self) -> object:
        return self.double.count_writes()


# -- the invariants -----------------------------------------------------------------------------


def assert_invariants(target: Target, *, forced: bool = False) -> None:
    """Assert what must hold after any sequence of syncs, killed or not, concurrent or not.

    Content is stored once; every decision label names the content of the version it sits on; production sits
    on a version that passed its gate (unless `forced`: an operator's `rollback --to --allow-unreleased`).
    """
    for name, versions in target.versions().items():
        where = f"{name}: {[(v.version, v.labels) for v in versions]}"
        assert [v.version for v in versions] == list(range(1, len(versions) + 1)), where
        assert [v.version for v in versions if LATEST in v.labels] == [len(versions)], where
        ours = [v.content_hash for v in versions if v.made_by_promptops]
        assert len(ours) == len(set(ours)), f"one content stored twice: {where}"
        for v in versions:
            decided = Decisions.of(v.labels)
            named = decided.contents | decided.rolled_back | {h for h, _ in decided.passed | decided.rejected}
            assert named <= {short_hash(v.content_hash)}, f"a label names another content: {where}"
        holders = [v for v in versions if PRODUCTION in v.labels]
        assert len(holders) <= 1, where
        if not forced:
            assert all(Decisions.of(v.labels).passed for v in holders), f"production never passed: {where}"
            assert all(release_numbers(v.labels) for v in holders), f"production on a version never released: {where}"
        releases = sorted(n for v in versions for n in release_numbers(v.labels))
        assert releases == list(range(1, len(releases) + 1)), f"release labels with gaps or twice: {where}"


# -- running sync -------------------------------------------------------------------------------


def sync_in_process(capsys: pytest.CaptureFixture[str], target: Target, root: Path, *args: str) -> Run:
    """Run `promptops sync --json` in this process (the environment must already point at `target`)."""
    result = run_cli(capsys, "--project", str(root), "--registry", target.name, "sync", "--json", *args)
    assert "Traceback" not in result.err
    return result


def outcomes(result: Run) -> dict[str, tuple[str, int | None, str | None]]:
    """Return name -> (outcome, version, release) from `sync --json` output."""
    return {r["name"]: (r["outcome"], r["version"], r["release"]) for r in json.loads(result.out)["prompts"]}


def assert_converged(capsys: pytest.CaptureFixture[str], target: Target, root: Path) -> None:
    """Assert the invariants, then that one more sync reports everything settled and writes nothing."""
    assert_invariants(target)
    state, activity = target.snapshot(), target.activity()
    result = sync_in_process(capsys, target, root)
    assert result.code == 0, result.err
    assert {outcome for outcome, _, _ in outcomes(result).values()} <= SETTLED, result.out
    assert (target.snapshot(), target.activity()) == (state, activity)


def write_wrapper(folder: Path) -> Path:
    """Write the kill/pause wrapper script into `folder` and return its path."""
    path = folder / "promptops_wrapper.py"
    path.write_text(WRAPPER, "utf-8")
    return path


def wrapped(wrapper: Path, target: Target, root: Path, spec: dict[str, Any], *args: str) -> subprocess.Popen[str]:
    """Start `promptops --registry R ARGS` through the wrapper in a subprocess, in `root`."""
    argv = [sys.executable, str(wrapper), json.dumps(spec), "--registry", target.name, *args]
    return subprocess.Popen(argv, cwd=root, env=target.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str]) -> Run:
    """Wait for a wrapped process and return its exit code (negative: killed by that signal) and output."""
    out, err = process.communicate(timeout=120)
    return Run(process.returncode, out, err)


def wait_until_paused(process: subprocess.Popen[str], signals: Path) -> None:
    """Wait until a wrapped process reports it reached its pause point (fail if it exits first)."""
    deadline = time.monotonic() + 60
    while not (signals / "paused").exists():
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the process ended ({process.returncode}) before pausing:\n{out}\n{err}")
        assert time.monotonic() < deadline, "the process never paused"
        time.sleep(0.01)


def edit_capital_cities(root: Path, line: str, message: str) -> None:
    """Add `line` before the question of prompts/capital-cities.yaml and commit."""
    path = root / "prompts" / "capital-cities.yaml"
    path.write_text(path.read_text("utf-8").replace(QUESTION, line + QUESTION), "utf-8")
    git(root, "commit", "-qam", message)


def new_repo(folder: Path) -> Path:
    """Return a fresh git repository with the example prompts."""
    root = make_project(folder, examples=True)
    git_init(root)
    return root


FIRST_SYNC: Snapshot = {
    "capital-cities": ((1, ("content", "latest", "passed", "production", "release-1")),),
    "support-agent": ((1, ("content", "latest", "passed", "production", "release-1")),),
}
SECOND_SYNC: Snapshot = {
    "capital-cities": (
        (1, ("content", "passed", "release-1")),
        (2, ("content", "latest", "passed", "production", "release-2")),
    ),
    "support-agent": ((1, ("content", "latest", "passed", "production", "release-1")),),
}
# The registry writes of each sync, in order: both datasets, then per changed prompt its version and promotion.
WRITES = {
    "first": ["sync_dataset", "sync_dataset", "create_version", "promote", "create_version", "promote"],
    "second": ["sync_dataset", "sync_dataset", "create_version", "promote"],
}


@contextmanager
def target_for(kind: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Target, Path]]:
    """Yield a fresh repository in `folder` and an empty registry of `kind`, this process's env pointed at it."""
    root = new_repo(folder)
    home = folder.with_name(f"{folder.name}-home")  # crash logs of subprocesses, outside the repository
    monkeypatch.delenv("LANGFUSE_PUBLIC_KEY", raising=False)
    monkeypatch.delenv("LANGFUSE_SECRET_KEY", raising=False)
    if kind == "local":
        yield LocalTarget(root, home), root
        return
    with LangfuseDouble() as double:
        for key, value in double.env.items():
            monkeypatch.setenv(key, value)
        yield LangfuseTarget(double, home), root
    double.assert_no_violations()


# -- the tests ----------------------------------------------------------------------------------


def killed_sync(
    kind: str,
    phase: str,
    spec: dict[str, Any],
    folder: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Run:
    """Run one wrapped sync on a fresh repository and registry, then rerun it to the expected state.

    For phase `second` the registry first gets the first sync and git the capital-cities improvement. Asserts
    that a kill left sound state, that one rerun reaches the state an unkilled sync reaches, and that a further
    rerun writes nothing.
    """
    wrapper = write_wrapper(folder.parent)
    expected = FIRST_SYNC if phase == "first" else SECOND_SYNC
    with target_for(kind, folder / "repo", monkeypatch) as (target, root):
        if phase == "second":
            assert sync_in_process(capsys, target, root).code == 0
            edit_capital_cities(root, BETTER, "Ask for only the city name")
        run = finish(wrapped(wrapper, target, root, spec, "sync"))
        if run.code != 0:
            assert run.code == -signal.SIGKILL, run.err
            assert_invariants(target)  # the state a kill leaves behind is already sound
            rerun = sync_in_process(capsys, target, root)
            assert rerun.code == 0, rerun.err
        assert target.snapshot() == expected, f"after {spec}"
        assert_converged(capsys, target, root)
    return run


@pytest.mark.parametrize("phase", ["first", "second"])
@pytest.mark.parametrize("kind", ["local", "langfuse"])
def test_sync_killed_after_each_write_converges(
    kind: str, phase: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for k in itertools.count(1):
        if killed_sync(kind, phase, {"kill_after": k}, tmp_path / str(k), capsys, monkeypatch).code == 0:
            break
        assert k <= len(WRITES[phase]), "killed after more writes than a sync makes"
    # Every write was a kill point: the first run that outlived its kill point made exactly this many.
    assert k - 1 == len(WRITES[phase])


@pytest.mark.parametrize("phase", ["first", "second"])
@pytest.mark.parametrize("kind", ["local", "langfuse"])
def test_sync_killed_before_each_promotion_converges(
    kind: str, phase: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "writes.log"
    assert killed_sync(kind, phase, {"log": str(log)}, tmp_path / "whole", capsys, monkeypatch).code == 0
    assert log.read_text().split() == WRITES[phase]
    # Killing before any other write leaves what killing after the previous one left (tested above); before a
    # promotion it also drops the experiments' verdict, which the rerun must reach again.
    for k, method in enumerate(WRITES[phase], start=1):
        if method == "promote":
            run = killed_sync(kind, phase, {"kill_before": k}, tmp_path / str(k), capsys, monkeypatch)
            assert run.code == -signal.SIGKILL
