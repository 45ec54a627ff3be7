"""Sharded, resumable and joined runs: how `check` and `experiment` run one shard into a results file, resume
from it, or judge the joined shards without running anything.

A ShardSession plugs into the command's runner (experiments.runner_for) through RunHooks, one per run:
- run mode (`--shard I/N`, `--results FILE`): plan only the shard's pairs, keep the pairs the file already holds
  finished, append each new pair to the file as it finishes; the shards of one run share their experiment id and
  name, derived from a run key, so their Langfuse traces make one experiment run.
- join mode (`--from FILE...`): verify the files are one run (shardjoin.py), then give the runner every pair as
  finished, so the verdict and the report come out of the very code an unsharded run goes through.
"""

from __future__ import annotations

import hashlib
import os
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from promptops import resultsfile
from promptops.cost import CallStats
from promptops.errors import ShardError
from promptops.fingerprint import dataset_fingerprint, fingerprint
from promptops.model import DatasetItem, DatasetSpec, PromptSpec
from promptops.results import ExperimentResult, ItemResult
from promptops.resultsfile import Header, PairRecord, ResultsFile, RunRecord
from promptops.runner import INTERRUPTED, RunHooks, Subject
from promptops.shardjoin import Joined, difference_of, join
from promptops.shards import WHOLE, Shard
from promptops.tracing.base import ItemTrace, RunInfo, Tracer, new_id


@dataclass(frozen=True)
class ShardOptions:
    """What the command line asked: run a shard (or a resumable whole run) into a file, or join results files."""

    shard: Shard | None = None
    results: Path | None = None  # the file to write and resume from (default for a shard: default_path)
    sources: tuple[Path, ...] = ()  # join these instead of running
    run_key: str | None = None  # shared by the shards of one run (default: default_run_key)

    def __post_init__(self) -> None:
        if self.sources and (self.shard is not None or self.results is not None):
            raise ShardError("--from joins finished shards: it cannot be combined with --shard or --results")


@dataclass(frozen=True)
class RunTally:
    """What happened to one run of a shard (or of a join)."""

    prompt: str
    subject: str
    planned: int
    kept: int  # finished before (a resume) or joined
    ran: int
    failed: int
    stopped: str | None = None


@dataclass(frozen=True)
class ShardSummary:
    """A sharded command's outcome: the file it wrote (or the files it joined) and each run's tally."""

    shard: Shard
    path: Path | None
    runs: tuple[RunTally, ...]
    joined: tuple[Path, ...] = ()
    run_key: str | None = None

    @property
    def partial(self) -> bool:
        """Return whether this was one shard of several: its verdicts are no verdicts, its file waits for a join."""
        return not self.joined and not self.shard.whole


def default_path(shard: Shard) -> Path:
    """Return the results file of a shard when --results is not given."""
    return Path(f"promptops-results-{shard.index}-of-{shard.count}.jsonl")


def default_run_key(git_commit: str | None) -> str:
    """Return the run key of a shard: the GitHub Actions run (its matrix jobs share it), else the git commit."""
    github_run = os.environ.get("GITHUB_RUN_ID")
    if github_run:
        return f"github-run-{github_run}"
    return f"commit-{git_commit[:12]}" if git_commit else "local"


def session(options: ShardOptions | None, root: Path, command: str, git_commit: str | None) -> ShardSession:
    """Return the session for a command's runs; without options it changes nothing."""
    return ShardSession(options or ShardOptions(), root, command, git_commit)


class ShardSession:
    """One command's sharded, resumed or joined runs (see the module docstring)."""

    def __init__(self, options: ShardOptions, root: Path, command: str, git_commit: str | None) -> None:
        self.options, self.root, self.command = options, root, command
        self.joined: Joined | None = None
        self._used: set[str] = set()
        self._tallies: dict[str, RunTally] = {}
        self._file: ResultsFile | None = None
        self._appender: resultsfile.Appender | None = None
        self._records: dict[str, RunRecord] = {}  # run id -> record, of the runs this session made
        self._pairs: dict[str, dict[tuple[str, int], PairRecord]] = {}
        self._ended: dict[str, str | None] = {}
        self._calls: dict[str, CallStats] = {}
        self._fingerprints: dict[str, str] = {}
        if options.sources:
            self.joined = join([resultsfile.read(path) for path in options.sources])
            if self.joined.command != command:
                raise ShardError(
                    f"{options.sources[0]} holds `{self.joined.command}` results: join them with "
                    f"`promptops {self.joined.command} --from`"
                )
            self.shard = WHOLE
            self.run_key = self.joined.run_key
            self.path: Path | None = None
            return
        self.shard = options.shard or WHOLE
        self.path = options.results or (default_path(self.shard) if options.shard is not None else None)
        sharded = options.shard is not None
        self.run_key = (options.run_key or default_run_key(git_commit)) if sharded else None
        self.header = Header(command, self.shard, self.run_key, git_commit)
        if self.path is not None and self.path.exists():
            self._file = self._resumable(resultsfile.read(self.path))
        if self.path is not None:
            self._open()  # now: a shard with nothing to run still leaves a file saying so

    @property
    def active(self) -> bool:
        """Return whether this session changes how runs run (a shard, a results file or a join)."""
        return self.joined is not None or self.path is not None

    def _resumable(self, found: ResultsFile) -> ResultsFile:
        """Return the file a rerun continues, after checking it is this command's, shard and run key."""
        header = found.header
        if header.command != self.command or header.shard != self.shard:
            raise ShardError(
                f"{found.path} holds shard {header.shard} of `{header.command}`, not shard {self.shard} of "
                f"`{self.command}`: give another --results file, or delete it to start over"
            )
        if self.run_key is not None and header.run_key != self.run_key:
            raise ShardError(
                f"{found.path} was written under run key {header.run_key!r}, this run's is {self.run_key!r}: "
                f"pass --run-key {header.run_key} to continue it, or delete it to start over"
            )
        return found

    # -- what the command's runner calls --------------------------------------------------------------------------

    def tracer(self, tracer: Tracer) -> Tracer:
        """Return the tracer for this session: a partial shard's run totals are left to the join."""
        return _WithoutRunTotals(tracer) if self.path is not None and not self.shard.whole else tracer

    def hooks(self, subject: Subject, dataset: DatasetSpec, spec: PromptSpec) -> RunHooks:
        """Return the hooks of one run: which pairs to plan, which are finished, where each new one goes."""
        if not self.active:
            return RunHooks()
        record = self._identity(subject, dataset, spec)
        if self.joined is not None:
            return self._joined_hooks(record, dataset)
        return self._shard_hooks(record, dataset)

    def __enter__(self) -> ShardSession:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        """Close the results file; after a join that went through, check that it used every run it was given."""
        self.close(keep_unreached=kind is not None)
        if self.joined is not None and kind is None:
            unused = [run.record for run in self.joined.runs if run.record.run_id not in self._used]
            if unused:
                names = ", ".join(r.describe() for r in unused)
                raise ShardError(
                    f"the results hold runs this {self.command} did not make ({names}): they were made from "
                    "another commit, another base or another registry state; run the shards again"
                )

    def close(self, *, keep_unreached: bool = False) -> None:
        """Rewrite the results file compactly: one line per run, per pair (in plan order) and per end.

        Runs of an earlier attempt that this one did not reach are dropped (the prompt or the dataset changed
        since), unless `keep_unreached`: this attempt stopped before it got to them.
        """
        if self._appender is None:
            return
        self._appender.close()
        self._appender = None
        assert self.path is not None
        records, pairs, ended, calls = dict(self._records), dict(self._pairs), dict(self._ended), dict(self._calls)
        if keep_unreached and self._file is not None:
            for record in self._file.runs:
                if record.run_id not in records:
                    records[record.run_id] = record
                    pairs[record.run_id] = dict(self._file.pairs.get(record.run_id, {}))
                    if record.run_id in self._file.ended:
                        ended[record.run_id] = self._file.ended[record.run_id]
                    if record.run_id in self._file.calls:
                        calls[record.run_id] = self._file.calls[record.run_id]
        ordered = {run_id: dict(sorted(p.items(), key=_plan_key)) for run_id, p in pairs.items()}
        resultsfile.write(ResultsFile(self.path, self.header, tuple(records.values()), ordered, ended, calls))

    def summary(self) -> ShardSummary | None:
        """Return what the session did, or None when it changed nothing."""
        if not self.active:
            return None
        joined = self.joined.paths if self.joined is not None else ()
        return ShardSummary(self.shard, self.path, tuple(self._tallies.values()), joined, self.run_key)

    # -- the runs -------------------------------------------------------------------------------------------------

    def _identity(self, subject: Subject, dataset: DatasetSpec, spec: PromptSpec) -> RunRecord:
        """Return the record of this run; its id and name are filled in by the mode."""
        assert spec.experiment is not None
        if spec.name not in self._fingerprints:
            self._fingerprints[spec.name] = fingerprint(spec, dataset, self.root)
        exp = spec.experiment
        return RunRecord(
            run_id="", run_name="", prompt=subject.rendered.name, subject=subject.description,
            version=subject.version, content_hash=subject.rendered.content_hash,
            fingerprint=self._fingerprints[spec.name], dataset=dataset.name,
            dataset_fingerprint=dataset_fingerprint(dataset), items=tuple(i.id for i in dataset.items),
            repeats=exp.repeats, model=exp.model, evaluators=tuple(e.name for e in exp.evaluators), seed=exp.seed,
        )  # fmt: skip

    def _joined_hooks(self, wanted: RunRecord, dataset: DatasetSpec) -> RunHooks:
        assert self.joined is not None
        run = next((r for r in self.joined.runs if r.record.identity == wanted.identity), None)
        if run is None:
            raise ShardError(self._not_joined(wanted))
        self._used.add(run.record.run_id)
        items = _by_id(dataset)
        done = {pair: record.result(items[pair[0]]) for pair, record in run.pairs.items()}
        self._tallies[run.record.run_id] = RunTally(
            wanted.prompt, wanted.subject, len(done), len(done), 0, run.failed, run.stopped
        )
        record = run.record
        return RunHooks(done=done, run_id=record.run_id, run_name=record.run_name, stopped=run.stopped, calls=run.calls)

    def _not_joined(self, wanted: RunRecord) -> str:
        assert self.joined is not None
        where = ", ".join(str(p) for p in self.joined.paths)
        same = next((r.record for r in self.joined.runs if r.record.key == wanted.key), None)
        if same is None:
            return (
                f"the results ({where}) hold no run of {wanted.describe()}: they are shards of another "
                f"{self.command} (another commit, base or registry state); run the shards again"
            )
        difference = difference_of(same, wanted) or ("{run} differently", "", "")
        what, here, there = difference
        return (
            f"this checkout runs {what.format(run=wanted.describe())}: {here}, where the results ({where}) ran "
            f"{there}: they were made from another commit or registry state; run the shards again"
        )

    def _shard_hooks(self, wanted: RunRecord, dataset: DatasetSpec) -> RunHooks:
        found = self._file
        previous = next((r for r in found.runs if r.identity == wanted.identity), None) if found else None
        kept: dict[tuple[str, int], PairRecord] = {}
        if found is not None and previous is not None:
            record = previous
            kept = {pair: r for pair, r in found.pairs.get(record.run_id, {}).items() if not r.failed}
        else:
            record = self._named(wanted)
        if record.run_id in self._records:
            raise ShardError(f"{record.describe()} runs twice in one {self.command}: that is a bug in promptops")
        appender = self._open()
        if previous is None:
            appender.write(resultsfile.run_line(record))
        self._records[record.run_id] = record
        self._pairs[record.run_id] = dict(kept)
        items = _by_id(dataset)
        done = {pair: r.result(items[pair[0]]) for pair, r in kept.items() if pair[0] in items}
        self._tallies[record.run_id] = RunTally(record.prompt, record.subject, 0, len(done), 0, 0)

        def on_result(result: ItemResult) -> None:
            pair = PairRecord.of(record.run_id, result)
            appender.write(resultsfile.pair_line(pair))
            self._pairs[record.run_id][(pair.item_id, pair.repeat)] = pair

        owns = None if self.shard.whole else self.shard.owns
        return RunHooks(
            pairs=owns, done=done, on_result=on_result, run_id=record.run_id, run_name=record.run_name,
            on_end=self._end,
        )  # fmt: skip

    def _named(self, wanted: RunRecord) -> RunRecord:
        """Return the record with its experiment id and name: derived from the run key for a shard, else new."""
        if self.run_key is None:
            started = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
            return replace(wanted, run_id=new_id(8), run_name=f"{wanted.prompt} - {wanted.subject} - {started}")
        parts = (self.run_key, wanted.prompt, wanted.subject, str(wanted.version), wanted.content_hash)
        digest = hashlib.sha256("\x1f".join((*parts, wanted.fingerprint)).encode()).hexdigest()
        return replace(wanted, run_id=digest[:16], run_name=f"{wanted.prompt} - {wanted.subject} - {self.run_key}")

    def _open(self) -> resultsfile.Appender:
        if self._appender is None:
            assert self.path is not None
            self._appender = resultsfile.Appender(self.path, self.header)
        return self._appender

    def _end(self, result: ExperimentResult) -> None:
        """Record how a run ended: its unrun pairs as the failures they are, unless it was interrupted."""
        record = self._records.get(result.run_id)
        if record is None:
            return
        pairs = self._pairs[record.run_id]
        tally = self._tallies[record.run_id]
        ran = len(pairs) - tally.kept
        if result.stopped != INTERRUPTED:
            appender = self._open()
            for item in result.items:
                if (item.item_id, item.repeat) not in pairs:
                    pair = PairRecord.of(record.run_id, item)
                    appender.write(resultsfile.pair_line(pair))
                    pairs[(pair.item_id, pair.repeat)] = pair
            appender.write(resultsfile.end_line(record.run_id, result.stopped, result.calls))
            self._ended[record.run_id] = result.stopped
            self._calls[record.run_id] = result.calls
        failed = sum(i.failed for i in result.items)
        self._tallies[record.run_id] = RunTally(
            record.prompt, record.subject, len(result.items), tally.kept, ran, failed, result.stopped
        )


def _by_id(dataset: DatasetSpec) -> dict[str, DatasetItem]:
    return {item.id: item for item in dataset.items}


def _plan_key(entry: tuple[tuple[str, int], PairRecord]) -> tuple[int, str]:
    (item, repeat), _ = entry
    return (repeat, item)


class _WithoutRunTotals:
    """A tracer that records a shard's items but not its run totals: those are the joined run's (Langfuse's
    run-level scores of a partial run would be wrong)."""

    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer
        self.name = tracer.name

    def start_run(self, run: RunInfo) -> None:
        """Record that the run started (or started again)."""
        self._tracer.start_run(run)

    def item(self, run: RunInfo, item: DatasetItem, repeat: int) -> AbstractContextManager[ItemTrace]:
        """Open the item's trace."""
        return self._tracer.item(run, item, repeat)

    def finish_run(self, run: RunInfo, result: ExperimentResult) -> None:
        """Leave the totals to the join."""

    def flush(self) -> None:
        """Deliver what was recorded."""
        self._tracer.flush()

    def close(self) -> None:
        """Deliver and release."""
        self._tracer.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tracer, name)
