"""The local registry's SQLite file: connection settings, transactions, and the schema as ordered migrations.

A migration is appended, never edited: a file written by any earlier promptops holds `schema_version` = the
number of migrations it ran, and opening it runs the rest in one transaction, so an old file upgrades itself.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from promptops.errors import RegistryError
from promptops.sqlitefile import enable_wal

BUSY_TIMEOUT_S = 30.0

Migration = Callable[[sqlite3.Connection], None]


def _v1_initial(db: sqlite3.Connection) -> None:
    """Versions, labels (one row per name+label, `seq` keeps Langfuse's label order), datasets and items."""
    db.execute(
        """CREATE TABLE prompt_versions (
            name TEXT NOT NULL,
            version INTEGER NOT NULL CHECK (version >= 1),
            type TEXT NOT NULL CHECK (type IN ('text', 'chat')),
            prompt TEXT NOT NULL,
            config TEXT NOT NULL,
            tags TEXT NOT NULL,
            commit_message TEXT,
            created_at TEXT NOT NULL,
            PRIMARY KEY (name, version)
        )"""
    )
    db.execute(
        """CREATE TABLE labels (
            name TEXT NOT NULL,
            label TEXT NOT NULL,
            version INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            PRIMARY KEY (name, label),
            FOREIGN KEY (name, version) REFERENCES prompt_versions (name, version)
        )"""
    )
    db.execute(
        """CREATE TABLE datasets (
            name TEXT PRIMARY KEY,
            description TEXT NOT NULL,
            metadata TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE dataset_items (
            id TEXT PRIMARY KEY,
            dataset TEXT NOT NULL REFERENCES datasets (name),
            status TEXT NOT NULL CHECK (status IN ('ACTIVE', 'ARCHIVED')),
            input TEXT,
            expected_output TEXT,
            metadata TEXT,
            updated_at TEXT NOT NULL
        )"""
    )


def _v2_created_by_and_indexes(db: sqlite3.Connection) -> None:
    """Record who created a version (unknown for older rows); index the per-version and per-dataset lookups."""
    db.execute("ALTER TABLE prompt_versions ADD COLUMN created_by TEXT")
    db.execute("CREATE INDEX labels_by_version ON labels (name, version)")
    db.execute("CREATE INDEX items_by_dataset ON dataset_items (dataset, status)")


def _v3_content_labels(db: sqlite3.Connection) -> None:
    """Label every version promptops made with its content (`content-<hash>`), as versions are labelled now."""
    import json

    from promptops.registry.base import Provenance
    from promptops.registry.labels import content_label

    rows = db.execute("SELECT name, version, config FROM prompt_versions ORDER BY name, version").fetchall()
    for name, version, config in rows:
        prov = Provenance.from_config(json.loads(config))
        if prov is None or prov.expected_version != version:
            continue
        db.execute(
            "INSERT OR IGNORE INTO labels (name, label, version, seq) VALUES (?, ?, ?, "
            "(SELECT COALESCE(MAX(seq), 0) + 1 FROM labels))",
            (name, content_label(prov.content_hash), version),
        )


MIGRATIONS: tuple[Migration, ...] = (_v1_initial, _v2_created_by_and_indexes, _v3_content_labels)
SCHEMA_VERSION = len(MIGRATIONS)


def current_version(db: sqlite3.Connection) -> int:
    """Return the schema version of an open database (0 for an empty file)."""
    has_table = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone()
    if not has_table:
        return 0
    row = db.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(db: sqlite3.Connection, shown: str) -> int:
    """Bring the database up to SCHEMA_VERSION in one write transaction; return the version it had before."""
    if current_version(db) == SCHEMA_VERSION:  # the common case, without taking the write lock
        return SCHEMA_VERSION
    db.execute("BEGIN IMMEDIATE")  # a second process opening the same old file waits here, then finds it done
    try:
        before = current_version(db)
        if before > SCHEMA_VERSION:
            raise RegistryError(
                f"{shown} was written by a newer promptops (schema {before}, this one knows {SCHEMA_VERSION}): "
                "upgrade promptops"
            )
        for migration in MIGRATIONS[before:]:
            migration(db)
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        db.execute("DELETE FROM schema_version")
        db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return before


class RegistryFile:
    """One connection to the database file, shared by an instance's threads under a lock; made on first write."""

    def __init__(self, path: Path, shown: str) -> None:
        self.path = path
        self.shown = shown
        self._db: sqlite3.Connection | None = None
        self._lock = threading.RLock()

    def _connect(self, *, create: bool) -> sqlite3.Connection | None:
        if self._db is not None:
            return self._db
        if not self.path.exists():
            if not create:
                return None
            self._make_folder()
        try:
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
            db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            enable_wal(db, BUSY_TIMEOUT_S)
            db.execute("PRAGMA foreign_keys = ON")
            migrate(db, self.shown)
        except sqlite3.Error as exc:
            raise RegistryError(f"cannot open the {self.shown}: {exc}") from None
        self._db = db
        return db

    def _make_folder(self) -> None:
        folder = self.path.parent
        if folder.exists():
            return
        folder.mkdir(parents=True, exist_ok=True)
        if folder.name == ".promptops":  # our own folder: keep the database out of git, as caches do
            (folder / ".gitignore").write_text("# created by promptops\n*\n", "utf-8")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection | None]:
        """Yield the connection inside a read transaction (one snapshot), or None while there is no file."""
        with self._lock:
            db = self._connect(create=False)
            if db is None:
                yield None
                return
            db.execute("BEGIN")
            try:
                yield db
            finally:
                db.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """Yield the connection inside BEGIN IMMEDIATE: other writers wait until this one commits."""
        with self._lock:
            db = self._connect(create=True)
            assert db is not None
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise RegistryError(f"the {self.shown} stayed locked by another process: {exc}") from None
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def close(self) -> None:
        """Close the connection (a later call opens it again)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
