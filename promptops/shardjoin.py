"""Join shard results files into one run, after proving they are one run: same command, key, partition and runs,
every shard exactly once, every planned pair exactly once. Anything else is a ShardError naming the shard. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from promptops.cost import CallStats
from promptops.errors import ShardError
from promptops.resultsfile import Header, Pair, PairRecord, ResultsFile, RunRecord
from promptops.shards import WHOLE

EXAMPLES = 3  # pairs named in a message about missing or extra ones


@dataclass(frozen=True)
class JoinedRun:
    """One run put back together: its identity, every planned pair, and why a shard stopped early (if one did)."""

    record: RunRecord
    pairs: Mapping[Pair, PairRecord]
    stopped: str | None = None
    calls: CallStats = CallStats()  # the model calls of every shard, added up

    @property
    def failed(self) -> int:
        """Return how many pairs failed."""
        return sum(p.failed for p in self.pairs.values())


@dataclass(frozen=True)
class Joined:
    """The runs of one command, joined from its shards."""

    command: str
    run_key: str | None
    shards: int
    paths: tuple[Path, ...]
    runs: tuple[JoinedRun, ...]
    git_commit: str | None = None

    def as_file(self, path: Path) -> ResultsFile:
        """Return the joined runs as one whole results file (shard 1/1) at `path`."""
        header = Header(self.command, WHOLE, self.run_key, self.git_commit, joined=self.shards)
        runs = tuple(run.record for run in self.runs)
        pairs = {run.record.run_id: _in_plan_order(run) for run in self.runs}
        ended = {run.record.run_id: run.stopped for run in self.runs}
        return ResultsFile(path, header, runs, pairs, ended, {run.record.run_id: run.calls for run in self.runs})


def join(files: Sequence[ResultsFile]) -> Joined:
    """Verify that `files` are the shards of one run and return it joined; raise ShardError naming what is wrong."""
    if not files:
        raise ShardError("no results files to join")
    ordered = _one_partition(files)
    first = ordered[0]
    runs = []
    for record in first.runs:
        pairs: dict[Pair, PairRecord] = {}
        stopped = None
        calls = []
        for shard_file in ordered:
            mine = _same_run(first, shard_file, record)
            pairs.update(_covered(shard_file, mine))
            stopped = stopped or shard_file.ended.get(mine.run_id)
            calls.append(shard_file.calls.get(mine.run_id, CallStats()))
        runs.append(JoinedRun(record, pairs, stopped, added_up(calls)))
    for shard_file in ordered[1:]:
        extra = [r for r in shard_file.runs if r.key not in {run.key for run in first.runs}]
        if extra:
            raise ShardError(
                f"{shard_file.name()} has a run of {extra[0].describe()}, which {first.name()} has not: "
                "the shards of one run must come from the same commit and registry state"
            )
    header = first.header
    return Joined(
        header.command, header.run_key, header.shard.count, tuple(f.path for f in ordered), tuple(runs),
        header.git_commit,
    )  # fmt: skip


def _one_partition(files: Sequence[ResultsFile]) -> list[ResultsFile]:
    """Return the files by shard index, after checking they are shards 1..N of one command and run key."""
    first = files[0]
    for other in files[1:]:
        if other.header.command != first.header.command:
            raise ShardError(
                f"{first.path} holds `{first.header.command}` results but {other.path} `{other.header.command}` "
                "results: join the shards of one command"
            )
        if other.header.shard.count != first.header.shard.count:
            raise ShardError(
                f"{first.path} is shard {first.header.shard} but {other.path} is shard {other.header.shard}: "
                "the shards of one run split it the same way (the same N)"
            )
        if other.header.run_key != first.header.run_key:
            raise ShardError(
                f"{first.name()} has run key {first.header.run_key!r} but {other.name()} has "
                f"{other.header.run_key!r}: they are shards of different runs"
            )
    by_index: dict[int, ResultsFile] = {}
    for shard_file in files:
        index = shard_file.header.shard.index
        if index in by_index:
            raise ShardError(
                f"shard {shard_file.header.shard} is given twice: {by_index[index].path} and {shard_file.path}"
            )
        by_index[index] = shard_file
    count = first.header.shard.count
    missing = [i for i in range(1, count + 1) if i not in by_index]
    if missing:
        got = ", ".join(f"{i}/{count} ({by_index[i].path})" for i in sorted(by_index))
        names = " and ".join(f"{i}/{count}" for i in missing)
        raise ShardError(
            f"shard{'s' if len(missing) > 1 else ''} {names} {'are' if len(missing) > 1 else 'is'} missing "
            f"(given: {got}): every shard of the run must be joined"
        )
    return [by_index[i] for i in sorted(by_index)]


def _same_run(first: ResultsFile, shard_file: ResultsFile, record: RunRecord) -> RunRecord:
    """Return shard_file's record of `record`'s run, or raise naming how it differs."""
    mine = next((r for r in shard_file.runs if r.key == record.key), None)
    if mine is None:
        raise ShardError(
            f"{shard_file.name()} has no run of {record.describe()}, which {first.name()} has: "
            "the shards of one run must come from the same commit and registry state"
        )
    difference = difference_of(record, mine)
    if difference is not None:
        what, got, expected = difference
        raise ShardError(
            f"{shard_file.name()} ran {what.format(run=record.describe())}: {got}, where {first.name()} ran "
            f"{expected}: the shards of one run must come from the same commit and registry state"
        )
    if mine.run_id != record.run_id:
        raise ShardError(
            f"{shard_file.name()} ran {record.describe()} as experiment run {mine.run_id}, {first.name()} as "
            f"{record.run_id}: they are shards of different runs"
        )
    return mine


def difference_of(expected: RunRecord, got: RunRecord) -> tuple[str, str, str] | None:
    """Return how `got` differs from `expected`: (what, got's, expected's), `what` naming the run as "{run}"."""
    for what, mine, theirs in (
        ("another prompt version of {run}", _version(got), _version(expected)),
        ("{run} on a different dataset", _dataset(got), _dataset(expected)),
        ("{run} with another model", got.model, expected.model),
        ("{run} with other evaluators", ", ".join(got.evaluators), ", ".join(expected.evaluators)),
        ("{run} with another seed", str(got.seed), str(expected.seed)),
        ("{run} with other repeats", str(got.repeats), str(expected.repeats)),
        (
            "{run} with other experiment settings (task, model options, gate or custom code)",
            f"evaluation fingerprint {_short(got.fingerprint)}",
            f"evaluation fingerprint {_short(expected.fingerprint)}",
        ),
    ):
        if mine != theirs:
            return what, mine, theirs
    return None


def _version(record: RunRecord) -> str:
    content = f"content {_short(record.content_hash)}"
    return content if record.version is None else f"version {record.version}, {content}"


def _dataset(record: RunRecord) -> str:
    return f"{record.dataset} {_short(record.dataset_fingerprint)}, {len(record.items)} items"


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def _covered(shard_file: ResultsFile, record: RunRecord) -> dict[Pair, PairRecord]:
    """Return the shard's pairs of a run, after checking they are exactly the pairs the partition gives it."""
    planned = record.planned(shard_file.header.shard)
    got = shard_file.pairs.get(record.run_id, {})
    missing = [pair for pair in planned if pair not in got]
    if missing:
        raise ShardError(
            f"{shard_file.name()} is incomplete: {len(missing)} of its {len(planned)} pairs of {record.describe()} "
            f"have no result ({_examples(missing)}): run the shard again with --results {shard_file.path} "
            "and it runs only those"
        )
    extra = sorted(set(got) - set(planned))
    if extra:
        raise ShardError(
            f"{shard_file.name()} holds {len(extra)} pairs of {record.describe()} that are not in its part of the "
            f"plan ({_examples(extra)}): it was not written for this partition of this dataset"
        )
    return dict(got)


def added_up(stats: Sequence[CallStats]) -> CallStats:
    """Return the model calls of several shards as those of one run: counts and cost summed, the rest merged."""
    costs = [s.cost_usd for s in stats]
    lowest = [s.lowest_concurrency for s in stats if s.lowest_concurrency is not None]
    return CallStats(
        live_calls=sum(s.live_calls for s in stats),
        replayed_calls=sum(s.replayed_calls for s in stats),
        input_tokens=sum(s.input_tokens for s in stats),
        output_tokens=sum(s.output_tokens for s in stats),
        cost_usd=None if any(c is None for c in costs) else sum(c for c in costs if c is not None),
        unpriced=tuple(dict.fromkeys(model for s in stats for model in s.unpriced)),
        rate_limited=sum(s.rate_limited for s in stats),
        concurrency=next((s.concurrency for s in stats if s.concurrency is not None), None),
        lowest_concurrency=min(lowest) if lowest else None,
        missing=sum(s.missing for s in stats),
        unavailable=next((s.unavailable for s in stats if s.unavailable), None),
        stopped_by_budget=next((s.stopped_by_budget for s in stats if s.stopped_by_budget), None),
    )


def _examples(pairs: Sequence[Pair]) -> str:
    shown = [item if repeat == 0 else f"{item} repeat {repeat}" for item, repeat in pairs[:EXAMPLES]]
    return ", ".join(shown) + (", …" if len(pairs) > EXAMPLES else "")


def _in_plan_order(run: JoinedRun) -> dict[Pair, PairRecord]:
    return {pair: run.pairs[pair] for pair in run.record.planned(WHOLE)}
