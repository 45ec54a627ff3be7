"""Results files: what a shard (or a resumable run) ran, pair by pair, with the identity of each run.

The format is ours, versioned, and JSON Lines so that it can be appended to: every finished (item, repeat) pair is
one line written and flushed as it finishes, so a shard killed at any moment leaves every pair it finished, and a
rerun with the same file runs only the rest. A line cut short by the kill (no newline yet) is ignored. Lines:

    {"kind": "header", "format": "promptops-results", "version": 1, "command": "check", "shard": "2/4", ...}
    {"kind": "run", "run_id": "...", "prompt": "...", "subject": "this branch", "content_hash": "...", ...}
    {"kind": "pair", "run": "<run_id>", "item": "france", "repeat": 0, "output": "Paris", "scores": [...], ...}
    {"kind": "end", "run": "<run_id>", "stopped": null, "calls": {"live_calls": 10, "cost_usd": 0.0, ...}}

A pair may appear more than once (a failed pair run again): the last line wins. Dataset items are not copied: the
dataset fingerprint ties the file to them. docs/sharding.md describes every field.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from promptops.cost import CallStats
from promptops.errors import ShardError
from promptops.evaluators.base import Score
from promptops.model import DatasetItem
from promptops.results import ItemResult
from promptops.shards import Shard

FORMAT = "promptops-results"
VERSION = 1
Pair = tuple[str, int]  # (item id, repeat)


@dataclass(frozen=True)
class Header:
    """What the file is: the command whose runs it holds, the shard, and the key the shards of one run share."""

    command: str  # "check" or "experiment"
    shard: Shard
    run_key: str | None = None  # None: not sharded (a resumable run keeps the runner's own id)
    git_commit: str | None = None
    joined: int = 0  # written by `merge`: how many shard files it joined


@dataclass(frozen=True)
class RunRecord:
    """One run's identity: what ran (prompt content or version), on what (dataset, model, evaluators, seed)."""

    run_id: str
    run_name: str
    prompt: str
    subject: str  # the runner's description: "this branch", "version 3 (production)", "working tree"
    version: int | None
    content_hash: str
    fingerprint: str  # the evaluation fingerprint (promptops/fingerprint.py)
    dataset: str
    dataset_fingerprint: str
    items: tuple[str, ...]  # the dataset's item ids, in order: the plan is items x repeats
    repeats: int
    model: str
    evaluators: tuple[str, ...]
    seed: int

    @property
    def key(self) -> tuple[str, str]:
        """Return (prompt, subject): which run of a command this is."""
        return (self.prompt, self.subject)

    @property
    def identity(self) -> tuple[object, ...]:
        """Return what must be equal for two records to be the same run."""
        return (self.prompt, self.subject, self.version, self.content_hash, self.fingerprint)

    def planned(self, shard: Shard) -> list[Pair]:
        """Return the pairs of `shard`, in plan order (repeat-major, like the runner)."""
        return [(i, r) for r in range(self.repeats) for i in self.items if shard.owns(i, r)]

    def describe(self) -> str:
        """Return e.g. "capital-cities (this branch)"."""
        return f"{self.prompt} ({self.subject})"


@dataclass(frozen=True)
class PairRecord:
    """One finished pair of a run: the runner's ItemResult without the dataset item's own fields."""

    run_id: str
    item_id: str
    repeat: int
    output: str | None
    error: str | None
    scores: tuple[Score, ...] = ()
    latency_s: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    trace_id: str | None = None

    @classmethod
    def of(cls, run_id: str, result: ItemResult) -> PairRecord:
        """Return the record of a runner result."""
        return cls(
            run_id, result.item_id, result.repeat, result.output, result.error, result.scores, result.latency_s,
            result.input_tokens, result.output_tokens, result.trace_id,
        )  # fmt: skip

    @property
    def failed(self) -> bool:
        """Return whether the pair failed (it runs again on a resume)."""
        return self.error is not None

    def result(self, item: DatasetItem) -> ItemResult:
        """Return the runner's ItemResult for this pair of `item`."""
        return ItemResult(
            self.item_id, self.repeat, item.input, item.expected_output, self.output, self.error, self.scores,
            self.latency_s, self.input_tokens, self.output_tokens, self.trace_id,
        )  # fmt: skip


@dataclass(frozen=True)
class ResultsFile:
    """A results file as read: its header, runs, the last record of each pair, and how each ended run stopped."""

    path: Path
    header: Header
    runs: tuple[RunRecord, ...] = ()
    pairs: Mapping[str, Mapping[Pair, PairRecord]] = field(default_factory=dict)  # by run id
    ended: Mapping[str, str | None] = field(default_factory=dict)  # run id -> stopped reason, for ended runs
    calls: Mapping[str, CallStats] = field(default_factory=dict)  # run id -> the model calls of its last attempt

    def name(self) -> str:
        """Return how messages name the file: "shard 2/4 (path)"."""
        return f"shard {self.header.shard} ({self.path})"


# -- reading --------------------------------------------------------------------------------------------------------


def read(path: Path) -> ResultsFile:
    """Read a results file; a last line cut short by a kill is ignored, any other bad line is an error."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise ShardError(f"{path}: no such results file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ShardError(f"{path}: cannot read it as a results file ({exc})") from None
    lines = text.split("\n")
    complete = lines[:-1]  # the last element is "" after a final newline, or a line cut short
    if not complete:
        raise ShardError(f"{path}: empty, not a promptops results file")
    header = _header(path, _load(path, 1, complete[0]))
    runs: dict[str, RunRecord] = {}
    pairs: dict[str, dict[Pair, PairRecord]] = {}
    ended: dict[str, str | None] = {}
    calls: dict[str, CallStats] = {}
    for number, line in enumerate(complete[1:], start=2):
        if not line.strip():
            continue
        data = _load(path, number, line)
        kind = data.get("kind")
        try:
            if kind == "run":
                record = _run(data)
                runs.setdefault(record.run_id, record)
                pairs.setdefault(record.run_id, {})
            elif kind == "pair":
                pair = _pair(data)
                if pair.run_id not in runs:
                    raise ValueError(f"a pair of run {pair.run_id!r}, which no earlier line describes")
                pairs[pair.run_id][(pair.item_id, pair.repeat)] = pair
                ended.pop(pair.run_id, None)  # a run resumed after it ended is open again until its next end
            elif kind == "end":
                ended[str(data["run"])] = data.get("stopped")
                if data.get("calls") is not None:
                    calls[str(data["run"])] = _calls(data["calls"])
            else:
                raise ValueError(f"unknown kind {kind!r}")
        except (KeyError, TypeError, ValueError) as exc:
            message = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ShardError(f"{path}:{number}: not a valid results line: {message}") from None
    return ResultsFile(path, header, tuple(runs.values()), pairs, ended, calls)


def _load(path: Path, number: int, line: str) -> dict[str, Any]:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ShardError(f"{path}:{number}: not a promptops results file (not JSON: {exc.msg})") from None
    if not isinstance(data, dict):
        raise ShardError(f"{path}:{number}: not a promptops results file (a line is not a JSON object)")
    return data


def _header(path: Path, data: dict[str, Any]) -> Header:
    if data.get("kind") != "header" or data.get("format") != FORMAT:
        raise ShardError(f"{path}:1: not a promptops results file (no {FORMAT} header)")
    version = data.get("version")
    if version != VERSION:
        raise ShardError(
            f"{path}:1: results format version {version!r}; this promptops reads version {VERSION}: "
            "join results with the promptops version that wrote them"
        )
    try:
        index, count = (int(part) for part in str(data["shard"]).split("/"))
        return Header(
            str(data["command"]), Shard(index, count), data.get("run_key"), data.get("git_commit"),
            int(data.get("joined", 0)),
        )  # fmt: skip
    except (KeyError, ValueError, ShardError) as exc:
        raise ShardError(f"{path}:1: not a valid results header ({exc})") from None


def _run(data: dict[str, Any]) -> RunRecord:
    version = data["version"]
    return RunRecord(
        run_id=str(data["run_id"]),
        run_name=str(data["run_name"]),
        prompt=str(data["prompt"]),
        subject=str(data["subject"]),
        version=None if version is None else int(version),
        content_hash=str(data["content_hash"]),
        fingerprint=str(data["fingerprint"]),
        dataset=str(data["dataset"]),
        dataset_fingerprint=str(data["dataset_fingerprint"]),
        items=tuple(str(i) for i in data["items"]),
        repeats=int(data["repeats"]),
        model=str(data["model"]),
        evaluators=tuple(str(e) for e in data["evaluators"]),
        seed=int(data["seed"]),
    )


def _calls(data: dict[str, Any]) -> CallStats:
    return CallStats(**{**data, "unpriced": tuple(data.get("unpriced", ()))})


def _pair(data: dict[str, Any]) -> PairRecord:
    scores = tuple(Score(str(s["name"]), s["value"], s["type"], s.get("comment")) for s in data.get("scores", ()))
    latency = data.get("latency_s")
    tokens = data.get("tokens", [0, 0])
    return PairRecord(
        str(data["run"]), str(data["item"]), int(data["repeat"]), data.get("output"), data.get("error"), scores,
        None if latency is None else float(latency), int(tokens[0]), int(tokens[1]), data.get("trace_id"),
    )  # fmt: skip


# -- writing --------------------------------------------------------------------------------------------------------


def header_line(header: Header) -> dict[str, Any]:
    """Return the header as its JSON line."""
    line: dict[str, Any] = {
        "kind": "header", "format": FORMAT, "version": VERSION, "command": header.command,
        "shard": str(header.shard), "run_key": header.run_key, "git_commit": header.git_commit,
    }  # fmt: skip
    if header.joined:
        line["joined"] = header.joined
    return line


def run_line(record: RunRecord) -> dict[str, Any]:
    """Return a run record as its JSON line."""
    return {
        "kind": "run", "run_id": record.run_id, "run_name": record.run_name, "prompt": record.prompt,
        "subject": record.subject, "version": record.version, "content_hash": record.content_hash,
        "fingerprint": record.fingerprint, "dataset": record.dataset,
        "dataset_fingerprint": record.dataset_fingerprint, "model": record.model,
        "evaluators": list(record.evaluators), "seed": record.seed, "repeats": record.repeats,
        "items": list(record.items),
    }  # fmt: skip


def pair_line(record: PairRecord) -> dict[str, Any]:
    """Return a pair record as its JSON line."""
    line: dict[str, Any] = {"kind": "pair", "run": record.run_id, "item": record.item_id, "repeat": record.repeat}
    line["output"], line["error"] = record.output, record.error
    line["scores"] = [
        {"name": s.name, "type": s.data_type, "value": s.value, **({"comment": s.comment} if s.comment else {})}
        for s in record.scores
    ]
    line["latency_s"], line["tokens"] = record.latency_s, [record.input_tokens, record.output_tokens]
    line["trace_id"] = record.trace_id
    return line


def end_line(run_id: str, stopped: str | None, calls: CallStats | None = None) -> dict[str, Any]:
    """Return the line that says a run ended (and why it stopped early, if it did), with its model calls."""
    line: dict[str, Any] = {"kind": "end", "run": run_id, "stopped": stopped}
    if calls is not None:
        line["calls"] = calls.to_dict()
    return line


def _encode(line: Mapping[str, Any]) -> str:
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n"


class Appender:
    """Appends lines to a results file, each written whole and flushed at once (a killed process loses none)."""

    def __init__(self, path: Path, header: Header | None) -> None:
        """Open `path` for appending; a new file gets `header` first, a line cut short by a kill is dropped."""
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        _drop_torn_tail(path)
        self._file: IO[str] = path.open("a", encoding="utf-8")
        if header is not None and self._file.tell() == 0:
            self.write(header_line(header))

    def write(self, line: Mapping[str, Any]) -> None:
        """Append one line and flush it to the operating system."""
        self._file.write(_encode(line))
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def _drop_torn_tail(path: Path) -> None:
    try:
        with path.open("rb+") as handle:
            data = handle.read()
            if data and not data.endswith(b"\n"):
                handle.truncate(data.rfind(b"\n") + 1)
    except FileNotFoundError:
        return


def write(results: ResultsFile) -> None:
    """Write a whole results file at once, replacing `results.path` atomically (a join, or a compaction)."""
    path = results.path
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(_encode(header_line(results.header)))
        for record in results.runs:
            handle.write(_encode(run_line(record)))
            handle.writelines(_encode(pair_line(p)) for p in results.pairs.get(record.run_id, {}).values())
            if record.run_id in results.ended:
                ended = end_line(record.run_id, results.ended[record.run_id], results.calls.get(record.run_id))
                handle.write(_encode(ended))
    os.replace(tmp, path)
