"""The runner's RunHooks (what shards, resumes and joins are built on): a subset of the plan, pairs finished
before, a callback per finished pair, a fixed run id and name, and a preset stop reason.
"""

from __future__ import annotations

from promptops.results import ItemResult
from promptops.runner import RunHooks
from tests.test_runner import Recording, go, spec

ALL = [
    ("france", 0),
    ("germany", 0),
    ("japan", 0),
    ("atlantis", 0),
    ("france", 1),
    ("germany", 1),
    ("japan", 1),
    ("atlantis", 1),
]


def test_without_hooks_the_whole_plan_runs_repeat_major() -> None:
    result = go(spec(repeats=2), hooks=RunHooks())
    assert [(i.item_id, i.repeat) for i in result.items] == ALL


def test_pairs_plan_only_the_pairs_accepted_and_report_each_as_it_finishes() -> None:
    seen: list[tuple[str, int]] = []
    provider = Recording()
    hooks = RunHooks(
        pairs=lambda item, repeat: item != "japan" and repeat == 1,
        on_result=lambda result: seen.append((result.item_id, result.repeat)),
        run_id="0123456789abcdef",
        run_name="capitals - shard run",
    )
    result = go(spec(repeats=2), hooks=hooks, provider=provider)
    assert [(i.item_id, i.repeat) for i in result.items] == [("france", 1), ("germany", 1), ("atlantis", 1)]
    assert sorted(seen) == sorted([("france", 1), ("germany", 1), ("atlantis", 1)])
    assert len(provider.requests) == 3
    assert (result.run_id, result.extra["planned"]) == ("0123456789abcdef", 3)
    assert result.metrics["exact_match"].n == 3


def test_pairs_finished_before_are_kept_as_they_are_and_not_run_again() -> None:
    whole = go(spec())
    kept = {(i.item_id, i.repeat): i for i in whole.items if i.item_id in ("france", "japan")}
    provider = Recording()
    seen: list[ItemResult] = []
    resumed = go(spec(), hooks=RunHooks(done=kept, on_result=seen.append), provider=provider)
    assert [i.item_id for i in resumed.items] == ["france", "germany", "japan", "atlantis"]
    assert resumed.items[0] is kept[("france", 0)] and resumed.items[2] is kept[("japan", 0)]
    assert sorted(i.item_id for i in seen) == ["atlantis", "germany"]  # only the new ones are reported
    assert sorted(r.messages[0]["content"].split("capital of ")[1].split("?")[0] for r in provider.requests) == [
        "Atlantis", "Germany",
    ]  # fmt: skip
    assert resumed.metrics == whole.metrics | {k: resumed.metrics[k] for k in ("latency_p50", "latency_p95")}


def test_a_joined_run_runs_nothing_and_keeps_why_a_shard_stopped() -> None:
    whole = go(spec())
    provider = Recording()
    done = {(i.item_id, i.repeat): i for i in whole.items}
    joined = go(spec(), hooks=RunHooks(done=done, stopped="time limit", calls=whole.calls), provider=provider)
    assert provider.requests == []
    assert (joined.items, joined.stopped, joined.metrics) == (whole.items, "time limit", whole.metrics)
    assert joined.calls == whole.calls and whole.calls.live_calls == 4  # the shards' calls, not the join's none
