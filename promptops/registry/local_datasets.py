"""The local registry's datasets: Langfuse's dataset semantics (upsert by id, archive what git dropped) in SQLite."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

from promptops.errors import RegistryError
from promptops.model import DatasetItem, DatasetSpec
from promptops.registry.base import DatasetInfo, DatasetSyncResult, RemoteItem
from promptops.registry.local_schema import RegistryFile


def now_iso() -> str:
    """Return the current UTC time as the registry stores it (ISO 8601, milliseconds, `Z`)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def stored_json(value: Any) -> str:
    """Return canonical JSON: sorted keys make equal values equal text (how unchanged items are recognised)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _item_values(item: DatasetItem) -> tuple[str, str, str]:
    """Return an item's stored columns (input, expected_output, metadata) as canonical JSON."""
    return stored_json(dict(item.input)), stored_json(item.expected_output), stored_json(dict(item.metadata))


class LocalDatasets:
    """The dataset half of the local registry, on the registry's file and transactions."""

    def __init__(self, file: RegistryFile, where: str) -> None:
        self.file, self.where = file, where

    def sync(self, dataset: DatasetSpec, *, dry_run: bool = False) -> DatasetSyncResult:
        """Create or update the dataset, upsert changed items by id, archive items no longer in git.

        With `dry_run`, count what would be written and write nothing (nor create the file).
        """
        if dry_run:
            return self._planned(dataset)
        now = now_iso()
        with self.file.write() as db:
            row = db.execute("SELECT description, metadata FROM datasets WHERE name = ?", (dataset.name,)).fetchone()
            wanted = (dataset.description, stored_json(dict(dataset.metadata)))
            if row is None:
                db.execute(
                    "INSERT INTO datasets (name, description, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                    (dataset.name, *wanted, now, now),
                )
            elif tuple(row) != wanted:
                db.execute(
                    "UPDATE datasets SET description = ?, metadata = ?, updated_at = ? WHERE name = ?",
                    (*wanted, now, dataset.name),
                )
            upserted = sum(self._upsert_item(db, dataset.name, item, now) for item in dataset.items)
            in_git = {item.id for item in dataset.items}
            active = [
                r[0]
                for r in db.execute(
                    "SELECT id FROM dataset_items WHERE dataset = ? AND status = 'ACTIVE'", (dataset.name,)
                )
            ]
            gone = sorted(set(active) - in_git)
            db.executemany(
                "UPDATE dataset_items SET status = 'ARCHIVED', updated_at = ? WHERE id = ?", [(now, i) for i in gone]
            )
        return DatasetSyncResult(dataset.name, row is None, upserted, len(gone), len(dataset.items) - upserted)

    def _planned(self, dataset: DatasetSpec) -> DatasetSyncResult:
        with self.file.read() as db:
            exists = db is not None and db.execute("SELECT 1 FROM datasets WHERE name = ?", (dataset.name,)).fetchone()
            if db is None or not exists:
                return DatasetSyncResult(dataset.name, True, len(dataset.items), 0, 0)
            stored = {
                row[0]: tuple(row[1:])
                for row in db.execute(
                    "SELECT id, input, expected_output, metadata FROM dataset_items "
                    "WHERE dataset = ? AND status = 'ACTIVE'",
                    (dataset.name,),
                )
            }
        same = sum(stored.get(item.id) == _item_values(item) for item in dataset.items)
        gone = len(set(stored) - {item.id for item in dataset.items})
        return DatasetSyncResult(dataset.name, False, len(dataset.items) - same, gone, same)

    @staticmethod
    def _upsert_item(db: sqlite3.Connection, dataset: str, item: DatasetItem, now: str) -> bool:
        """Write the item unless it is already stored, active and identical; return whether it was written."""
        values = _item_values(item)
        row = db.execute(
            "SELECT dataset, status, input, expected_output, metadata FROM dataset_items WHERE id = ?", (item.id,)
        ).fetchone()
        if row is not None and row[0] != dataset:
            raise RegistryError(
                f"dataset item id {item.id!r} of {dataset!r} already belongs to dataset {row[0]!r}; "
                "item ids must be unique across datasets"
            )
        if row is not None and row[1] == "ACTIVE" and tuple(row[2:]) == values:
            return False
        db.execute(
            "INSERT INTO dataset_items (id, dataset, status, input, expected_output, metadata, updated_at) "
            "VALUES (?, ?, 'ACTIVE', ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
            "status = 'ACTIVE', input = excluded.input, expected_output = excluded.expected_output, "
            "metadata = excluded.metadata, updated_at = excluded.updated_at",
            (item.id, dataset, *values, now),
        )
        return True

    def listing(self) -> list[DatasetInfo]:
        """Return every dataset's name, description and metadata, by name."""
        with self.file.read() as db:
            if db is None:
                return []
            rows = db.execute("SELECT name, description, metadata FROM datasets ORDER BY name").fetchall()
        return [DatasetInfo(name, description, json.loads(metadata)) for name, description, metadata in rows]

    def items(self, name: str) -> list[RemoteItem]:
        """Return the active items of a dataset, in the order they were first stored."""
        with self.file.read() as db:
            exists = db is not None and db.execute("SELECT 1 FROM datasets WHERE name = ?", (name,)).fetchone()
            if db is None or not exists:
                raise RegistryError(f"dataset {name!r} is not in the {self.where}")
            rows = db.execute(
                "SELECT id, input, expected_output, metadata, status FROM dataset_items "
                "WHERE dataset = ? AND status = 'ACTIVE' ORDER BY rowid",
                (name,),
            ).fetchall()
        return [RemoteItem(i, _loads(a), _loads(b), _loads(c), s) for i, a, b, c, s in rows]
