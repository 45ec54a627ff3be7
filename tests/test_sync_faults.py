"""sync against a misbehaving Langfuse (the double): rate limits and server errors before a write, and writes that
were applied but whose answer was lost, at each kind of request a sync makes. Each sync either succeeds or
fails with a one-line error (exit 1, no traceback); a rerun then converges with the invariants intact, and no
version is ever created twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from promptops.registry import langfuse as langfuse_registry
from promptops.registry.langfuse_errors import Caller
from tests.langfuse_double.server import LangfuseDouble
from tests.test_sync_kill import (
    FIRST_SYNC,
    LangfuseTarget,
    assert_converged,
    assert_invariants,
    new_repo,
    outcomes,
    sync_in_process,
)

PROMPTS = "/api/public/v2/prompts"
PATCH = "/api/public/v2/prompts/*/versions/*"
ITEMS = "/api/public/dataset-items"
PROMOTED = {"capital-cities": ("promoted", 1, "release-1"), "support-agent": ("promoted", 1, "release-1")}


@dataclass(frozen=True)
class Setup:
    """A repository, the double it syncs to, and the waits the registry asked for (instead of waiting)."""

    root: Path
    double: LangfuseDouble
    target: LangfuseTarget
    sleeps: list[float]


@pytest.fixture
def setup(tmp_path: Path, langfuse_double: LangfuseDouble, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    """Point this process at the double; record backoff waits instead of sleeping (no timing in tests)."""
    for key, value in langfuse_double.env.items():
        monkeypatch.setenv(key, value)
    sleeps: list[float] = []
    monkeypatch.setattr(langfuse_registry, "Caller", lambda host, timeout, _sleep: Caller(host, timeout, sleeps.append))
    yield Setup(new_repo(tmp_path / "repo"), langfuse_double, LangfuseTarget(langfuse_double, tmp_path), sleeps)


def statuses(double: LangfuseDouble, method: str, path: str) -> list[int | None]:
    """Return the status of each matching request, in order (None: the connection was dropped)."""
    return [r.status for r in double.requests(method, path)]


Inject = Callable[[LangfuseDouble], object]
ITEMS_IN_GIT = 19  # capital-cities-tutorial 10 + support-faq 9

RECOVERED: list[tuple[str, Inject, str, str, list[int | None], int | None]] = [
    # (case, fault, method and path of the requests it hits, their failed answers in order (None: dropped),
    #  how many of them succeeded: one create and one promotion per prompt, one upsert per item; None where
    #  that count is the registry's business, e.g. how many listings it reads)
    (
        "429 with Retry-After on the listing",
        lambda d: d.fail_next("GET", PROMPTS, 429, retry_after=1),
        "GET",
        PROMPTS,
        [429],
        None,
    ),
    ("503 twice on create", lambda d: d.fail_next("POST", PROMPTS, 503, times=2), "POST", PROMPTS, [503, 503], 2),
    ("500 on the label move", lambda d: d.fail_next("PATCH", PATCH, 500), "PATCH", PATCH, [500], 2),
    (
        "429 on dataset items",
        lambda d: d.fail_next("POST", ITEMS, 429, retry_after=0, times=3),
        "POST",
        ITEMS,
        [429, 429, 429],
        ITEMS_IN_GIT,
    ),
    # A create whose answer was lost is never sent again: the re-read finds it, so one POST succeeds (the other
    # prompt's) and capital-cities still has exactly one version.
    ("create applied, connection dropped", lambda d: d.lose_response("POST", PROMPTS), "POST", PROMPTS, [None], 1),
    (
        "create applied, 500 answered",
        lambda d: d.lose_response("POST", PROMPTS, status=500),
        "POST",
        PROMPTS,
        [500],
        1,
    ),
    ("label move applied, connection dropped", lambda d: d.lose_response("PATCH", PATCH), "PATCH", PATCH, [None], 2),
    (
        "item applied, connection dropped",
        lambda d: d.lose_response("POST", ITEMS, times=2),
        "POST",
        ITEMS,
        [None, None],
        ITEMS_IN_GIT,  # 17 at once, the 2 lost ones again (an upsert by id: same body, same item)
    ),
]


@pytest.mark.parametrize(
    ("inject", "method", "path", "failures", "successes"), [c[1:] for c in RECOVERED], ids=[c[0] for c in RECOVERED]
)
def test_sync_retries_through_a_passing_fault(
    setup: Setup,
    capsys: pytest.CaptureFixture[str],
    inject: Inject,
    method: str,
    path: str,
    failures: list[int | None],
    successes: int | None,
) -> None:
    inject(setup.double)
    result = sync_in_process(capsys, setup.target, setup.root)
    assert (result.code, outcomes(result)) == (0, PROMOTED), result.err
    got = statuses(setup.double, method, path)
    assert [s for s in got if s is None or s >= 400] == failures
    if successes is not None:
        assert len(got) - len(failures) == successes
    assert setup.target.snapshot() == FIRST_SYNC  # in particular: one version per prompt, never a copy
    assert not setup.double.faults.pending()
    assert_converged(capsys, setup.target, setup.root)


def test_retry_after_is_what_the_registry_waits(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    setup.double.fail_next("GET", PROMPTS, 429, retry_after=1)
    setup.double.fail_next("POST", PROMPTS, 503, retry_after=0)
    assert sync_in_process(capsys, setup.target, setup.root).code == 0
    assert setup.sleeps == [1.0, 0.0]


FAILED: list[tuple[str, Inject, str]] = [
    # (case, fault, the one-line error after the retries are spent)
    (
        "create keeps failing",
        lambda d: d.fail_next("POST", PROMPTS, 500, times=99),
        "answered 500 while creating a version of capital-cities: Internal Server Error",
    ),
    (
        "label move applied, every answer lost",
        lambda d: d.lose_response("PATCH", PATCH, times=99),
        "while moving labels production, release-1, passed-",
    ),
    (
        "rate limited on the listing",
        lambda d: d.fail_next("GET", PROMPTS, 429, retry_after=0, times=99),
        "answered 429 while listing prompts (page 1)",
    ),
    (
        "items keep failing",
        lambda d: d.fail_next("POST", ITEMS, 503, retry_after=0, times=99),
        "answered 503 while writing item",
    ),
]


@pytest.mark.parametrize(("inject", "says"), [c[1:] for c in FAILED], ids=[c[0] for c in FAILED])
def test_sync_fails_in_one_line_and_a_rerun_converges(
    setup: Setup, capsys: pytest.CaptureFixture[str], inject: Inject, says: str
) -> None:
    inject(setup.double)
    result = sync_in_process(capsys, setup.target, setup.root)
    registry_line, *lines = result.err.strip().splitlines()  # the registry is named before any work starts
    assert registry_line.startswith(f"registry: Langfuse at {setup.double.base_url} ")
    assert (result.code, len(lines)) == (1, 1), result.err
    # sync --json answers the error in JSON too, with the same one line.
    assert json.loads(result.out)["error"] == {
        "kind": "RegistryError",
        "message": lines[0].removeprefix("error: "),
        "exit_code": 1,
    }
    assert lines[0].startswith(f"error: Langfuse at {setup.double.base_url} ") or lines[0].startswith(
        f"error: the connection to Langfuse at {setup.double.base_url} broke "
    ), lines[0]
    assert says in lines[0]
    assert_invariants(setup.target)  # what the failed run left behind is sound
    setup.double.faults.clear()
    rerun = sync_in_process(capsys, setup.target, setup.root)
    assert rerun.code == 0, rerun.err
    assert setup.target.snapshot() == FIRST_SYNC
    assert_converged(capsys, setup.target, setup.root)
