"""The local run store's format: its versioned schema, and its rows as records (JSON columns decoded).

`schema_version` holds the number of MIGRATIONS applied; opening a file applies the missing ones in one
transaction (LocalTracer, tracing/local.py, writes and reads the rows).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptops.errors import ExperimentError

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: the first schema
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY, name TEXT NOT NULL, prompt TEXT NOT NULL, version INTEGER,
            subject TEXT NOT NULL, content_hash TEXT NOT NULL, dataset TEXT NOT NULL, model TEXT NOT NULL,
            seed INTEGER NOT NULL, task TEXT NOT NULL, planned INTEGER NOT NULL, metadata TEXT NOT NULL,
            started_at TEXT NOT NULL, finished_at TEXT, stopped TEXT, metrics TEXT,
            input_tokens INTEGER, output_tokens INTEGER)""",
        """CREATE TABLE items (
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, item_id TEXT NOT NULL,
            repeat INTEGER NOT NULL, position INTEGER, input TEXT NOT NULL, expected TEXT, output TEXT,
            error TEXT, latency_s REAL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
            trace_id TEXT, PRIMARY KEY (run_id, item_id, repeat))""",
        """CREATE TABLE spans (
            span_id TEXT PRIMARY KEY, trace_id TEXT NOT NULL, parent_id TEXT, run_id TEXT NOT NULL,
            name TEXT NOT NULL, type TEXT NOT NULL, input TEXT, output TEXT, attributes TEXT NOT NULL,
            level TEXT NOT NULL, status_message TEXT, started_at TEXT NOT NULL, ended_at TEXT NOT NULL)""",
        "CREATE INDEX spans_by_trace ON spans (trace_id)",
        """CREATE TABLE scores (
            id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, trace_id TEXT NOT NULL, observation_id TEXT,
            name TEXT NOT NULL, value REAL, string_value TEXT, data_type TEXT NOT NULL, comment TEXT)""",
        "CREATE INDEX scores_by_trace ON scores (trace_id)",
    ),
)


def unjson(text: str | None) -> Any:
    return None if text is None else json.loads(text)


@dataclass(frozen=True)
class RunRecord:
    """A row of `runs`, JSON columns decoded."""

    id: str
    name: str
    prompt: str
    version: int | None
    subject: str
    content_hash: str
    dataset: str
    model: str
    seed: int
    task: str
    planned: int
    metadata: dict[str, Any]
    started_at: str
    finished_at: str | None
    stopped: str | None
    metrics: dict[str, Any] | None
    input_tokens: int | None
    output_tokens: int | None


@dataclass(frozen=True)
class ItemRecord:
    """A row of `items`."""

    run_id: str
    item_id: str
    repeat: int
    position: int | None
    input: Any
    expected: Any
    output: str | None
    error: str | None
    latency_s: float | None
    input_tokens: int
    output_tokens: int
    trace_id: str | None


@dataclass(frozen=True)
class SpanRecord:
    """A row of `spans`."""

    span_id: str
    trace_id: str
    parent_id: str | None
    run_id: str
    name: str
    type: str
    input: Any
    output: Any
    attributes: dict[str, Any]
    level: str
    status_message: str | None
    started_at: str
    ended_at: str


@dataclass(frozen=True)
class ScoreRecord:
    """A row of `scores`; `value` is the score's own value (BOOLEAN as bool, CATEGORICAL as str)."""

    run_id: str
    trace_id: str
    observation_id: str | None
    name: str
    value: float | str | bool
    data_type: str
    comment: str | None


def score_value(row: sqlite3.Row) -> float | str | bool:
    if row["data_type"] == "BOOLEAN":
        return bool(row["value"])
    return row["string_value"] if row["data_type"] == "CATEGORICAL" else float(row["value"])


def migrate(db: sqlite3.Connection, path: Path) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = db.execute("SELECT version FROM schema_version").fetchone()
    current = row[0] if row else 0
    if current > len(MIGRATIONS):
        raise ExperimentError(
            f"{path}: schema version {current} is newer than this promptops knows ({len(MIGRATIONS)}); "
            "upgrade promptops"
        )
    for statements in MIGRATIONS[current:]:
        for statement in statements:
            db.execute(statement)
    if row is None:
        db.execute("INSERT INTO schema_version VALUES (?)", [len(MIGRATIONS)])
    else:
        db.execute("UPDATE schema_version SET version = ?", [len(MIGRATIONS)])
