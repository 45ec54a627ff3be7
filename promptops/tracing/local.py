"""LocalTracer: runs, items, spans and scores in a SQLite file (default .promptops/runs.db).

The schema is ours (not Langfuse's) and versioned (tracing/local_store.py, with the records the readers
return). An item is written, with its spans and scores, in the turn of the event loop in which it finishes:
the items that finish in one turn share one transaction, committed before the loop waits for anything again.
So a killed run keeps every item it completed (but those finishing at that very instant), while a run of many
fast items does not pay a commit for each. WAL lets readers (another `promptops` process) look while a run
writes.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptops.model import DatasetItem
from promptops.sensitive import secret_value_masker
from promptops.sqlitefile import enable_wal
from promptops.tracing.base import GENERATION, ROOT_SPAN, ItemTrace, Observation, RunInfo, Subject, new_id
from promptops.tracing.local_store import ItemRecord, RunRecord, ScoreRecord, SpanRecord, migrate, score_value, unjson
from promptops.usercode import describe

if TYPE_CHECKING:
    from promptops.evaluators.base import DataType
    from promptops.results import ExperimentResult, ItemResult

DEFAULT_PATH = ".promptops/runs.db"

# The innermost open local span of the running asyncio task (each task has its own copy).
_current_span: contextvars.ContextVar[str | None] = contextvars.ContextVar("promptops_local_span", default=None)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)


class _LocalObservation:
    """An open span: collects its output and attributes until its context exits."""

    def __init__(self, span_id: str, attributes: dict[str, Any]) -> None:
        self.id: str | None = span_id
        self.output: Any = None
        self.attributes = attributes

    def update(
        self,
        *,
        output: Any = None,
        usage: Mapping[str, int] | None = None,
        metadata: Mapping[str, Any] | None = None,
        cost: Mapping[str, float] | None = None,
    ) -> None:
        """Remember the output, usage and metadata for the span's row."""
        if output is not None:
            self.output = output
        if usage is not None:
            self.attributes["usage"] = dict(usage)
        if cost is not None:
            self.attributes["cost_usd"] = dict(cost)
        if metadata is not None:
            self.attributes.update(metadata)


class _LocalItemTrace:
    """Buffers one item's spans and scores; `finish` writes them with the item in one transaction."""

    def __init__(self, tracer: LocalTracer, run: RunInfo, item: DatasetItem, repeat: int) -> None:
        self.tracer, self.run, self.item, self.repeat = tracer, run, item, repeat
        self.trace_id: str | None = new_id(16)
        self.root_id = new_id(8)
        self.started_at = _now()
        self.spans: list[tuple[Any, ...]] = []
        self.scores: list[tuple[Any, ...]] = []

    @contextmanager
    def _observe(self, name: str, kind: str, input: Any, attributes: dict[str, Any]) -> Iterator[Observation]:
        observation = _LocalObservation(new_id(8), attributes)
        parent, started, level, message = _current_span.get(), _now(), "DEFAULT", None
        token = _current_span.set(observation.id)
        try:
            yield observation
        except BaseException as exc:  # recorded, then re-raised: a timeout cancels mid-span
            level, message = "ERROR", describe(exc)
            raise
        finally:
            _current_span.reset(token)
            self.spans.append((
                observation.id, self.trace_id, parent, self.run.run_id, name, kind, _json(input),
                _json(observation.output), _json(observation.attributes), level, message, started, _now(),
            ))  # fmt: skip

    def span(self, name: str, *, input: Any = None, kind: str = "span") -> AbstractContextManager[Observation]:
        """Open a child span."""
        return self._observe(name, kind, input, {})

    def generation(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, str]],
        parameters: Mapping[str, Any],
        prompt: Subject | None,
        name: str = GENERATION,
    ) -> AbstractContextManager[Observation]:
        """Open a generation carrying the model, its parameters and the prompt name and version."""
        attributes: dict[str, Any] = {"model": model, "parameters": dict(parameters)}
        if prompt is not None:
            attributes.update(prompt_name=prompt.rendered.name, prompt_version=prompt.version)
        return self._observe(name, "generation", list(messages), attributes)

    def score(self, name: str, value: float | str | bool, data_type: DataType, comment: str | None = None) -> None:
        """Buffer a score on the item's root span."""
        number = float(value) if not isinstance(value, str) else None
        text = value if isinstance(value, str) else (str(value) if isinstance(value, bool) else None)
        self.scores.append((self.run.run_id, self.trace_id, self.root_id, name, number, text, data_type, comment))

    def finish(self, result: ItemResult) -> None:
        """Write the item, its root span, its spans and scores (LocalTracer.write: in this turn of the loop)."""
        attributes = {"item_id": self.item.id, "repeat": self.repeat, **dict(self.item.metadata)}
        root = (
            self.root_id, self.trace_id, None, self.run.run_id, ROOT_SPAN, "span", _json(dict(self.item.input)),
            _json(result.output), _json(attributes), "ERROR" if result.failed else "DEFAULT", result.error,
            self.started_at, _now(),
        )  # fmt: skip
        self.tracer.write(_item_row(self.run.run_id, None, result), [root, *self.spans], self.scores)


_UPSERT_ITEM = """INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (run_id, item_id, repeat) DO UPDATE SET position = coalesce(excluded.position, position)"""
_INSERT_SPAN = "INSERT INTO spans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_INSERT_SCORE = "INSERT INTO scores (run_id, trace_id, observation_id, name, value, string_value, data_type, comment) \
VALUES (?, ?, ?, ?, ?, ?, ?, ?)"


def _masked(row: tuple[Any, ...], mask: Callable[[str], str]) -> tuple[Any, ...]:
    """Mask the known secrets' values in a row: the local store keeps personal data, never credentials."""
    return tuple(mask(value) if isinstance(value, str) else value for value in row)


def _item_row(run_id: str, position: int | None, result: ItemResult) -> tuple[Any, ...]:
    return (
        run_id, result.item_id, result.repeat, position, _json(dict(result.input)), _json(result.expected_output),
        result.output, result.error, result.latency_s, result.input_tokens, result.output_tokens, result.trace_id,
    )  # fmt: skip


class LocalTracer:
    """Records runs in a SQLite file; also the reader `promptops experiment --json` and tests use."""

    name = "local"

    def __init__(self, path: str | Path = DEFAULT_PATH) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection, used from the event loop thread and (in tests, readers) others: a lock serialises it.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self._lock = threading.RLock()
        self._pending: list[tuple[tuple[Any, ...], list[tuple[Any, ...]], list[tuple[Any, ...]]]] = []
        enable_wal(self._db, 30)
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        with self.transaction() as db:
            migrate(db, self.path)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Yield the connection inside BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def write(self, item: tuple[Any, ...], spans: list[tuple[Any, ...]], scores: list[tuple[Any, ...]]) -> None:
        """Write a finished item's rows at the end of this turn of the event loop (at once outside a loop)."""
        with self._lock:
            self._pending.append((item, spans, scores))
            if len(self._pending) > 1:
                return  # the write of this turn is asked for already
        try:
            asyncio.get_running_loop().call_soon(self._write_pending, True)
        except RuntimeError:  # no event loop running in this thread
            self._write_pending()

    def _write_pending(self, in_loop: bool = False) -> None:
        """Write the finished items not written yet, in one transaction, masked."""
        with self._lock:
            pending, self._pending = self._pending, []
            if not pending:
                return
            mask = secret_value_masker()
            try:
                with self.transaction() as db:
                    db.executemany(_UPSERT_ITEM, [_masked(item, mask) for item, _, _ in pending])
                    db.executemany(_INSERT_SPAN, [_masked(row, mask) for _, spans, _ in pending for row in spans])
                    db.executemany(_INSERT_SCORE, [_masked(row, mask) for _, _, scores in pending for row in scores])
            except Exception:
                self._pending[:0] = pending  # kept for the next write, which raises where the run can report it
                if not in_loop:
                    raise

    def close(self) -> None:
        """Write what is pending, then close the database file."""
        try:
            self._write_pending()
        finally:
            self._db.close()

    def start_run(self, run: RunInfo) -> None:
        """Insert the run's row; a run started before under this id (a shard, a resume) keeps its row."""
        rendered = run.subject.rendered
        with self.transaction() as db:
            db.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, NULL) "
                "ON CONFLICT (id) DO NOTHING",
                (run.run_id, run.name, rendered.name, run.subject.version, run.subject.description,
                 rendered.content_hash, run.dataset, run.model, run.seed, run.task, run.planned,
                 _json(dict(run.metadata)), run.started_at),
            )  # fmt: skip

    @contextmanager
    def item(self, run: RunInfo, item: DatasetItem, repeat: int) -> Iterator[ItemTrace]:
        """Open an item's trace; nothing is written until its `finish`."""
        trace = _LocalItemTrace(self, run, item, repeat)
        token = _current_span.set(trace.root_id)
        try:
            yield trace
        finally:
            _current_span.reset(token)

    def finish_run(self, run: RunInfo, result: ExperimentResult) -> None:
        """Record how the run ended, its metrics, and every planned item (unrun ones too) in plan order."""
        metrics = {name: summary.to_dict() for name, summary in result.metrics.items()}
        self._write_pending()
        with self.transaction() as db:
            db.executemany(_UPSERT_ITEM, [_item_row(run.run_id, i, r) for i, r in enumerate(result.items)])
            db.execute(
                "UPDATE runs SET finished_at = ?, stopped = ?, metrics = ?, input_tokens = ?, output_tokens = ? "
                "WHERE id = ?",
                (_now(), result.stopped, _json(metrics), result.input_tokens, result.output_tokens, run.run_id),
            )

    def flush(self) -> None:
        """Write the finished items not written yet (every run's end has written them already)."""
        self._write_pending()

    # -- readers ---------------------------------------------------------------------------------

    def _select(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            self._write_pending()  # what this process finished, it reads
            cursor = self._db.execute(sql, args)
            cursor.row_factory = sqlite3.Row
            return cursor.fetchall()

    def runs(self, prompt: str | None = None) -> list[RunRecord]:
        """Return the recorded runs, newest first, optionally of one prompt."""
        where, args = ("WHERE prompt = ?", [prompt]) if prompt is not None else ("", [])
        rows = self._select(f"SELECT * FROM runs {where} ORDER BY started_at DESC, rowid DESC", args)
        return [
            RunRecord(**{**dict(r), "metadata": unjson(r["metadata"]), "metrics": unjson(r["metrics"])}) for r in rows
        ]

    def items(self, run_id: str) -> list[ItemRecord]:
        """Return a run's items in plan order (items of an unfinished run in the order they finished)."""
        rows = self._select("SELECT * FROM items WHERE run_id = ? ORDER BY position, rowid", [run_id])
        return [ItemRecord(**{**dict(r), "input": unjson(r["input"]), "expected": unjson(r["expected"])}) for r in rows]

    def spans(self, trace_id: str) -> list[SpanRecord]:
        """Return a trace's spans, root first, then in the order they started."""
        rows = self._select(
            "SELECT * FROM spans WHERE trace_id = ? ORDER BY parent_id IS NOT NULL, started_at", [trace_id]
        )
        decoded = ("input", "output", "attributes")
        return [SpanRecord(**{**dict(r), **{k: unjson(r[k]) for k in decoded}}) for r in rows]

    def scores(self, *, run_id: str | None = None, trace_id: str | None = None) -> list[ScoreRecord]:
        """Return scores of a run or a trace, in the order they were written."""
        column, key = ("trace_id", trace_id) if trace_id is not None else ("run_id", run_id)
        rows = self._select(f"SELECT * FROM scores WHERE {column} = ? ORDER BY id", [key])
        return [
            ScoreRecord(
                r["run_id"],
                r["trace_id"],
                r["observation_id"],
                r["name"],
                score_value(r),
                r["data_type"],
                r["comment"],
            )
            for r in rows
        ]
