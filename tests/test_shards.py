"""The partition (promptops/shards.py) and the results file format (promptops/resultsfile.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from promptops import resultsfile
from promptops.cost import CallStats
from promptops.errors import ShardError
from promptops.evaluators.base import Score
from promptops.model import DatasetItem
from promptops.resultsfile import Header, PairRecord, ResultsFile, RunRecord
from promptops.shardjoin import added_up, join
from promptops.shards import WHOLE, Shard, shard_of

IDS = [f"item-{n:03d}" for n in range(60)]


def partition(ids: list[str], repeats: int, count: int) -> dict[tuple[str, int], int]:
    return {(i, r): shard_of(i, r, count) for r in range(repeats) for i in ids}


def test_every_pair_is_in_exactly_one_shard() -> None:
    shards = [Shard(i, 4) for i in range(1, 5)]
    for item in IDS:
        for repeat in range(3):
            assert sum(s.owns(item, repeat) for s in shards) == 1


def test_adding_an_item_moves_no_other_pair() -> None:
    before = partition(IDS, 2, 5)
    after = partition([*IDS[:30], "item-new", *IDS[30:]], 2, 5)
    assert {pair: after[pair] for pair in before} == before
    assert set(after) - set(before) == {("item-new", 0), ("item-new", 1)}


def test_the_partition_ignores_positions() -> None:
    assert partition(list(reversed(IDS)), 2, 3) == partition(IDS, 2, 3)
    # Removing items moves nothing either: the survivors keep their shards.
    kept = IDS[::2]
    assert partition(kept, 2, 3) == {pair: s for pair, s in partition(IDS, 2, 3).items() if pair[0] in kept}


def test_repeats_of_one_item_spread_over_shards() -> None:
    # A hash of (item, repeat), not of the item alone: with many repeats, one item does not load one shard.
    assert len({shard_of("item-000", r, 4) for r in range(20)}) == 4


def test_the_partition_is_the_documented_hash() -> None:
    # docs/sharding.md: the first 8 bytes of sha256("<item id>\x1f<repeat>"), big-endian, modulo N, plus 1.
    def documented(item: str, repeat: int, count: int) -> int:
        digest = hashlib.sha256(f"{item}\x1f{repeat}".encode()).digest()
        return int.from_bytes(digest[:8], "big") % count + 1

    assert all(shard_of(i, r, 7) == documented(i, r, 7) for i in IDS for r in range(3))
    # Frozen: results files written by another promptops version must split the same way.
    assert [shard_of("france", 0, 4), shard_of("france", 1, 4), shard_of("peru", 0, 7)] == [3, 4, 6]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2", "give I/N, e.g. 2/4"),
        ("0/3", "between 1 and 3"),
        ("4/3", "between 1 and 3"),
        ("a/b", "give I/N"),
    ],
)
def test_shard_specs_are_checked(text: str, message: str) -> None:
    with pytest.raises(ShardError, match=message):
        Shard.parse(text)


def test_a_shard_spec_allows_spaces() -> None:
    assert Shard.parse(" 2 / 4 ") == Shard(2, 4)
    assert str(Shard(2, 4)) == "2/4" and WHOLE.whole and not Shard(1, 2).whole


# -- the results file -----------------------------------------------------------------------------------------------


def record(run_id: str = "r1", items: tuple[str, ...] = ("a", "b", "c"), **changes: Any) -> RunRecord:
    fields: dict[str, Any] = {
        "run_id": run_id, "run_name": "p - this branch - k", "prompt": "p", "subject": "this branch",
        "version": None, "content_hash": "sha256:c", "fingerprint": "sha256:f", "dataset": "d",
        "dataset_fingerprint": "sha256:d", "items": items, "repeats": 1, "model": "mock-llm-v1",
        "evaluators": ("exact_match",), "seed": 0,
    }  # fmt: skip
    fields.update(changes)
    return RunRecord(**fields)


def pair(item: str, repeat: int = 0, run_id: str = "r1", error: str | None = None) -> PairRecord:
    scores = () if error else (Score("exact_match", True, "BOOLEAN"), Score("length", 5.0, "NUMERIC", "five"))
    return PairRecord(run_id, item, repeat, None if error else "Paris", error, scores, 0.25, 12, 3, "t" * 32)


def test_a_results_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    pairs = {("a", 0): pair("a"), ("b", 0): pair("b", error="model error: boom")}
    written = ResultsFile(path, Header("check", Shard(2, 3), "key", "abc"), (record(),), {"r1": pairs}, {"r1": None})
    resultsfile.write(written)
    assert resultsfile.read(path) == written
    lines = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    assert [line["kind"] for line in lines] == ["header", "run", "pair", "pair", "end"]
    assert lines[0] == {
        "kind": "header", "format": "promptops-results", "version": 1, "command": "check", "shard": "2/3",
        "run_key": "key", "git_commit": "abc",
    }  # fmt: skip
    assert lines[2]["scores"] == [
        {"name": "exact_match", "type": "BOOLEAN", "value": True},
        {"name": "length", "type": "NUMERIC", "value": 5.0, "comment": "five"},
    ]


def test_a_pair_record_gives_back_the_runner_result() -> None:
    item = DatasetItem("a", {"country": "France"}, "Paris", {"user_id": "u1"})
    result = pair("a").result(item)
    assert (result.item_id, result.input, result.expected_output, result.output) == ("a", item.input, "Paris", "Paris")
    assert PairRecord.of("r1", result) == pair("a")


def test_appending_survives_a_line_cut_short(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    appender = resultsfile.Appender(path, Header("experiment", WHOLE))
    appender.write(resultsfile.run_line(record()))
    appender.write(resultsfile.pair_line(pair("a")))
    appender.close()
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"kind":"pair","run":"r1","item":"b"')  # the process was killed mid-line
    assert set(resultsfile.read(path).pairs["r1"]) == {("a", 0)}
    again = resultsfile.Appender(path, Header("experiment", WHOLE))  # a resume drops the cut line first
    again.write(resultsfile.pair_line(pair("b")))
    again.close()
    assert set(resultsfile.read(path).pairs["r1"]) == {("a", 0), ("b", 0)}
    assert path.read_text("utf-8").count('"kind":"header"') == 1


def test_the_last_record_of_a_pair_wins_and_a_resumed_run_is_open_until_it_ends(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    appender = resultsfile.Appender(path, Header("experiment", WHOLE))
    for line in (
        resultsfile.run_line(record()), resultsfile.pair_line(pair("a", error="model error: x")),
        resultsfile.end_line("r1", None), resultsfile.pair_line(pair("a")),
    ):  # fmt: skip
        appender.write(line)
    appender.close()
    read = resultsfile.read(path)
    assert read.pairs["r1"][("a", 0)] == pair("a")
    assert read.ended == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty, not a promptops results file"),
        ("hello\n", r"r.jsonl:1: not a promptops results file \(not JSON"),
        ('{"kind": "header", "format": "other"}\n', "r.jsonl:1: not a promptops results file"),
        ('{"kind": "header", "format": "promptops-results", "version": 2}\n', "format version 2; this promptops reads"),
        (
            '{"kind": "header", "format": "promptops-results", "version": 1, "command": "check", "shard": "5/4"}\n',
            "not a valid results header",
        ),
        (
            '{"kind": "header", "format": "promptops-results", "version": 1, "command": "check", "shard": "1/1"}\n'
            '{"kind": "pair", "run": "r9", "item": "a", "repeat": 0}\n',
            "r.jsonl:2: not a valid results line: a pair of run 'r9', which no earlier line describes",
        ),
        (
            '{"kind": "header", "format": "promptops-results", "version": 1, "command": "check", "shard": "1/1"}\n'
            '{"kind": "score"}\n',
            "r.jsonl:2: not a valid results line: unknown kind 'score'",
        ),
    ],
)
def test_a_bad_results_file_is_named_with_its_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(text, "utf-8")
    with pytest.raises(ShardError, match=message):
        resultsfile.read(path)


def test_a_missing_results_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ShardError, match="no such results file"):
        resultsfile.read(tmp_path / "nope.jsonl")


# -- joining (the end-to-end cases are in test_sharded_check.py) ----------------------------------------------------


def shard_files(tmp_path: Path, count: int, items: tuple[str, ...] = ("a", "b", "c", "d")) -> list[ResultsFile]:
    """Return the results files of a complete `count`-shard run of one prompt."""
    files = []
    for index in range(1, count + 1):
        shard = Shard(index, count)
        run = record(items=items)
        pairs = {p: pair(p[0]) for p in run.planned(shard)}
        header = Header("check", shard, "key")
        files.append(ResultsFile(tmp_path / f"s{index}.jsonl", header, (run,), {"r1": pairs}, {"r1": None}))
    return files


def test_joined_shards_hold_every_pair_in_plan_order(tmp_path: Path) -> None:
    files = shard_files(tmp_path, 3)
    joined = join(list(reversed(files)))
    assert joined.paths == tuple(f.path for f in files)
    whole = joined.as_file(tmp_path / "joined.jsonl")
    assert list(whole.pairs["r1"]) == [("a", 0), ("b", 0), ("c", 0), ("d", 0)]
    assert (whole.header.shard, whole.header.joined, whole.header.run_key) == (WHOLE, 3, "key")
    assert join([whole]).runs == joined.runs  # a joined file is a run of one shard


def test_a_shard_that_stopped_early_makes_the_joined_run_stopped(tmp_path: Path) -> None:
    files = shard_files(tmp_path, 2)
    files[1] = ResultsFile(files[1].path, files[1].header, files[1].runs, files[1].pairs, {"r1": "time limit"})
    assert join(files).runs[0].stopped == "time limit"


def test_pairs_of_another_shard_are_refused(tmp_path: Path) -> None:
    files = shard_files(tmp_path, 2)
    stray = {("a", 0): pair("a"), ("b", 0): pair("b"), ("c", 0): pair("c"), ("d", 0): pair("d")}
    files[0] = ResultsFile(files[0].path, files[0].header, files[0].runs, {"r1": stray}, {})
    with pytest.raises(ShardError, match=r"shard 1/2 \(.*s1.jsonl\) holds \d pairs of p \(this branch\) that are not"):
        join(files)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": "gpt-4o-mini"}, r"ran p \(this branch\) with another model: gpt-4o-mini, where shard 1/2"),
        ({"evaluators": ("contains",)}, r"with other evaluators: contains, where .* ran exact_match"),
        ({"seed": 7}, r"with another seed: 7, where .* ran 0"),
        ({"fingerprint": "sha256:other"}, r"with other experiment settings \(task, model options, gate or custom"),
    ],
)
def test_a_shard_run_differently_is_named(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    files = shard_files(tmp_path, 2)
    other = record(items=("a", "b", "c", "d"), **change)
    files[1] = ResultsFile(files[1].path, files[1].header, (other,), files[1].pairs, {})
    with pytest.raises(ShardError, match=message):
        join(files)


def test_shards_of_different_partitions_commands_or_runs_are_refused(tmp_path: Path) -> None:
    two, three = shard_files(tmp_path, 2), shard_files(tmp_path, 3)
    with pytest.raises(ShardError, match="is shard 1/2 but .* is shard 2/3: the shards of one run split it the same"):
        join([two[0], three[1]])
    renamed = ResultsFile(two[1].path, Header("check", Shard(2, 2), "other"), two[1].runs, two[1].pairs, {})
    with pytest.raises(
        ShardError, match="has run key 'key' but shard 2/2 .* has 'other': they are shards of different"
    ):
        join([two[0], renamed])
    experiment = ResultsFile(two[1].path, Header("experiment", Shard(2, 2), "key"), two[1].runs, two[1].pairs, {})
    with pytest.raises(ShardError, match="holds `check` results but .* `experiment` results"):
        join([two[0], experiment])
    with pytest.raises(ShardError, match="no results files to join"):
        join([])


def test_the_model_calls_of_the_shards_add_up_to_one_run(tmp_path: Path) -> None:
    one = CallStats(3, 1, 30, 6, 0.5, (), 2, 4, 2, 0, None, None)
    two = CallStats(2, 0, 20, 4, 0.25, ("gpt-x",), 0, 4, None, 1, "no key", "budget reached")
    assert added_up([one, two]) == CallStats(5, 1, 50, 10, 0.75, ("gpt-x",), 2, 4, 2, 1, "no key", "budget reached")
    assert added_up([one, CallStats(cost_usd=None)]).cost_usd is None  # one unpriced shard: the cost is unknown
    files = shard_files(tmp_path, 2)
    files = [
        ResultsFile(f.path, f.header, f.runs, f.pairs, f.ended, {"r1": s})
        for f, s in zip(files, (one, two), strict=True)
    ]
    resultsfile.write(files[1])
    assert resultsfile.read(files[1].path).calls == {"r1": two}
    assert join(files).runs[0].calls == added_up([one, two])
