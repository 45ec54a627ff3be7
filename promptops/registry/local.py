"""The local registry: Langfuse's prompt and dataset semantics in one SQLite file (default .promptops/registry.db).

Safe under concurrent processes: WAL mode, a busy timeout, and every change inside one `BEGIN IMMEDIATE`
transaction, so two writers queue instead of interleaving (no duplicate version numbers, no lost label move).
Reads never create anything: the folder and file appear on the first write.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from promptops.errors import ConcurrentChange, LabelNotFound, PromptNotFound, PromptopsError, RegistryError
from promptops.model import DatasetSpec, ProjectConfig, RenderedPrompt
from promptops.registry.base import (
    PROVENANCE_KEY,
    DatasetInfo,
    DatasetSyncResult,
    PromptState,
    PromptVersion,
    Provenance,
    RemoteItem,
    production_moved,
)
from promptops.registry.labels import LATEST, PRODUCTION, content_label, next_release
from promptops.registry.local_datasets import LocalDatasets, now_iso, stored_json
from promptops.registry.local_schema import RegistryFile

DEFAULT_PATH = ".promptops/registry.db"
# Langfuse's create-time label rule and commit message limit (REFERENCE §2.3, §2.4), kept so both agree.
LABEL_RE = re.compile(r"^[a-z0-9_\-.]{1,36}$")
COMMIT_MESSAGE_MAX = 500
LATEST_IS_MANAGED = "the label 'latest' is always on the newest version and cannot be set"
VERSION_COLUMNS = "name, version, type, prompt, config, tags, commit_message, created_at, created_by"


def open_local(root: Path, config: ProjectConfig, *, cache: bool = True) -> LocalRegistry:
    """Open the SQLite registry at `root / config.registry_path` (created on the first write)."""
    shown = config.registry_path or DEFAULT_PATH
    return LocalRegistry(root / shown, shown=shown)


def _check_labels(labels: Sequence[str]) -> None:
    bad = [label for label in labels if not LABEL_RE.match(label)]
    if bad:
        raise RegistryError(
            f"invalid label(s) {', '.join(map(repr, bad))}: labels are 1-36 characters of lowercase letters, "
            "digits, '_', '-' and '.'"
        )


class LocalRegistry:
    """A registry in one SQLite file; one connection per instance, shared by its threads under a lock."""

    name = "local"

    def __init__(self, path: Path, *, shown: str | None = None) -> None:
        self.path = path
        self.shown = shown or str(path)
        self._file = RegistryFile(path, self.describe())
        self._read = self._file.read
        self._write = self._file.write
        self.datasets = LocalDatasets(self._file, self.describe())

    def describe(self) -> str:
        """Return e.g. `local registry at .promptops/registry.db`."""
        return f"local registry at {self.shown}"

    def close(self) -> None:
        """Close the database connection."""
        self._file.close()

    # -- prompts: reads ------------------------------------------------------------------------

    def list_prompts(self) -> list[PromptState]:
        """Return every prompt's state: all its versions and labels, its newest and its production version."""
        with self._read() as db:
            if db is None:
                return []
            versions: dict[str, list[int]] = {}
            for name, version in db.execute("SELECT name, version FROM prompt_versions ORDER BY name, version"):
                versions.setdefault(name, []).append(version)
            labels: dict[tuple[str, int], list[str]] = {}
            for name, version, label in db.execute("SELECT name, version, label FROM labels ORDER BY label"):
                labels.setdefault((name, version), []).append(label)
            holders = {
                label: {
                    row[0]: row
                    for row in db.execute(
                        "SELECT v.name, v.version, v.type, v.config FROM prompt_versions v JOIN labels l "
                        "ON l.name = v.name AND l.version = v.version WHERE l.label = ?",
                        (label,),
                    )
                }
                for label in (LATEST, PRODUCTION)
            }
        states = []
        for name, (_, _, kind, config) in sorted(holders[LATEST].items()):
            prod = holders[PRODUCTION].get(name)
            union = sorted({label for v in versions[name] for label in labels.get((name, v), ())})
            states.append(
                PromptState(
                    name=name,
                    type=kind,
                    versions=tuple(versions[name]),
                    labels=tuple(union),
                    latest_config=json.loads(config),
                    production_version=prod[1] if prod else None,
                    production_labels=tuple(labels[(name, prod[1])]) if prod else (),
                    production_config=json.loads(prod[3]) if prod else None,
                )
            )
        return states

    def get_version(self, name: str, *, version: int | None = None, label: str | None = None) -> PromptVersion:
        """Return one version by number or label (default: production)."""
        if version is not None and label is not None:
            raise RegistryError(f"ask for a version or a label of {name!r}, not both")
        label = label if version is not None or label else PRODUCTION
        with self._read() as db:
            if db is None:
                raise PromptNotFound(f"prompt {name!r} is not in the {self.describe()}")
            found = self._find(db, name, version=version, label=None if version is not None else label)
            if found is None:
                raise self._not_found(db, name, version, label)
            return found

    def version_content(self, name: str, version: int, labels: Sequence[str]) -> PromptVersion:
        """Return a version for showing its content (a local read is as cheap as any cache)."""
        return self.get_version(name, version=version)

    def _find(
        self, db: sqlite3.Connection, name: str, *, version: int | None = None, label: str | None = None
    ) -> PromptVersion | None:
        if version is not None:
            row = db.execute(
                f"SELECT {VERSION_COLUMNS} FROM prompt_versions WHERE name = ? AND version = ?", (name, version)
            ).fetchone()
        else:
            row = db.execute(
                f"SELECT {VERSION_COLUMNS} FROM prompt_versions WHERE name = ? AND version = "
                "(SELECT version FROM labels WHERE name = ? AND label = ?)",
                (name, name, label),
            ).fetchone()
        return self._to_version(db, row) if row else None

    @staticmethod
    def _to_version(db: sqlite3.Connection, row: tuple[Any, ...]) -> PromptVersion:
        name, version, kind, prompt, config, tags, message, created_at, created_by = row
        labels = [
            r[0]
            for r in db.execute("SELECT label FROM labels WHERE name = ? AND version = ? ORDER BY seq", (name, version))
        ]
        content = json.loads(prompt)
        return PromptVersion(
            name=name,
            version=version,
            type=kind,
            prompt=content if isinstance(content, str) else tuple(content),
            config=json.loads(config),
            labels=tuple(labels),
            tags=tuple(json.loads(tags)),
            commit_message=message,
            created_at=created_at,
            created_by=created_by,
        )

    def _not_found(self, db: sqlite3.Connection, name: str, version: int | None, label: str | None) -> PromptopsError:
        """Say precisely what is missing: the prompt, the version, or the label."""
        versions = [r[0] for r in db.execute("SELECT version FROM prompt_versions WHERE name = ? ORDER BY 1", (name,))]
        if not versions:
            return PromptNotFound(f"prompt {name!r} is not in the {self.describe()}")
        if version is not None:
            return PromptNotFound(
                f"prompt {name!r} has no version {version} ({len(versions)} version(s), the newest is {versions[-1]})"
            )
        return LabelNotFound(
            f"no version of {name!r} carries the label {label!r} (its labels: {', '.join(self._labels(db, name))})"
        )

    @staticmethod
    def _labels(db: sqlite3.Connection, name: str) -> list[str]:
        return [r[0] for r in db.execute("SELECT label FROM labels WHERE name = ? ORDER BY label", (name,))]

    def all_labels(self, name: str) -> tuple[str, ...]:
        """Return the union of the labels on every version of the name, sorted."""
        with self._read() as db:
            labels = self._labels(db, name) if db is not None else []
        if not labels:
            raise PromptNotFound(f"prompt {name!r} is not in the {self.describe()}")
        return tuple(labels)

    def labelled_versions(self, name: str) -> list[PromptVersion]:
        """Return every version carrying a label other than `latest`, lowest first."""
        with self._read() as db:
            if db is None or not self._labels(db, name):
                raise PromptNotFound(f"prompt {name!r} is not in the {self.describe()}")
            rows = db.execute(
                f"SELECT {VERSION_COLUMNS} FROM prompt_versions v WHERE name = ? AND EXISTS (SELECT 1 FROM labels l "
                "WHERE l.name = v.name AND l.version = v.version AND l.label != ?) ORDER BY version",
                (name, LATEST),
            ).fetchall()
            return [self._to_version(db, row) for row in rows]

    # -- prompts: writes -----------------------------------------------------------------------

    def create_version(
        self, rendered: RenderedPrompt, provenance: Provenance, *, labels: Sequence[str] = (), commit_message: str
    ) -> PromptVersion:
        """Create the next version with provenance and its content label; if that content is stored, return it."""
        mark = content_label(rendered.content_hash)
        with self._write() as db:
            existing = self._find(db, rendered.name, label=mark)
            if existing is not None:
                return existing  # content is never stored twice: another run (or an earlier one) made it
            newest = self._find(db, rendered.name, label=LATEST)
            number = (newest.version if newest else 0) + 1
            config = {**rendered.config, PROVENANCE_KEY: replace(provenance, expected_version=number).to_config()}
            return self._insert(
                db,
                rendered.name,
                rendered.type,
                rendered.as_langfuse_prompt(),
                config,
                labels=[mark, *labels],
                tags=rendered.tags,
                commit_message=commit_message,
                created_by="promptops",
            )

    def find_content(self, name: str, content_hash: str) -> PromptVersion | None:
        """Return the version that carries this content's label, or None."""
        with self._read() as db:
            return None if db is None else self._find(db, name, label=content_label(content_hash))

    def create_raw_version(
        self,
        name: str,
        prompt: str | list[dict[str, str]],
        config: dict[str, Any],
        *,
        labels: Sequence[str] = (),
        tags: Sequence[str] | None = None,
        commit_message: str | None = None,
        created_by: str = "user",
    ) -> PromptVersion:
        """Store the next version exactly as given, as a person or another tool would (no provenance added)."""
        kind = "text" if isinstance(prompt, str) else "chat"
        with self._write() as db:
            return self._insert(
                db,
                name,
                kind,
                prompt,
                config,
                labels=labels,
                tags=tags,
                commit_message=commit_message,
                created_by=created_by,
            )

    def _insert(
        self,
        db: sqlite3.Connection,
        name: str,
        kind: str,
        prompt: Any,
        config: dict[str, Any],
        *,
        labels: Sequence[str],
        tags: Sequence[str] | None,
        commit_message: str | None,
        created_by: str,
    ) -> PromptVersion:
        """Append a version with Langfuse's create rules: type fixed per name, labels move, tags on all versions."""
        _check_labels(labels)
        if commit_message is not None and len(commit_message) > COMMIT_MESSAGE_MAX:
            raise RegistryError(f"commit message of {name} is longer than {COMMIT_MESSAGE_MAX} characters")
        newest = self._find(db, name, label=LATEST)
        if newest is not None and newest.type != kind:
            raise RegistryError(f"{name} is a {newest.type} prompt; a version cannot change its type to {kind}")
        number = (newest.version if newest else 0) + 1
        kept_tags = list(dict.fromkeys(tags if tags is not None else (newest.tags if newest else ())))
        db.execute(
            f"INSERT INTO prompt_versions ({VERSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                name,
                number,
                kind,
                stored_json(prompt),
                stored_json(config),
                stored_json(kept_tags),
                commit_message,
                now_iso(),
                created_by,
            ),
        )
        db.execute("UPDATE prompt_versions SET tags = ? WHERE name = ?", (stored_json(kept_tags), name))
        self._move(db, name, number, [*labels, LATEST])
        found = self._find(db, name, version=number)
        assert found is not None
        return found

    @staticmethod
    def _move(db: sqlite3.Connection, name: str, version: int, labels: Sequence[str]) -> None:
        """Put each label on `version`, taking it off whichever version had it; a label already there stays put."""
        for label in dict.fromkeys(labels):
            held = db.execute("SELECT version FROM labels WHERE name = ? AND label = ?", (name, label)).fetchone()
            if held is not None and held[0] == version:
                continue
            db.execute(
                "INSERT INTO labels (name, label, version, seq) VALUES (?, ?, ?, "
                "(SELECT COALESCE(MAX(seq), 0) + 1 FROM labels)) "
                "ON CONFLICT (name, label) DO UPDATE SET version = excluded.version, seq = excluded.seq",
                (name, label, version),
            )

    def set_labels(self, name: str, version: int, labels: Sequence[str]) -> PromptVersion:
        """Add labels to a version, moving each off any other version of the name."""
        if LATEST in labels:
            raise RegistryError(f"{name}: {LATEST_IS_MANAGED}")
        with self._write() as db:
            if self._find(db, name, version=version) is None:
                raise self._not_found(db, name, version, None)
            self._move(db, name, version, labels)
            found = self._find(db, name, version=version)
            assert found is not None
            return found

    def promote(
        self, name: str, version: int, *, expect_production: int | None, labels: Sequence[str] = ()
    ) -> PromptVersion:
        """Move production, the next release-N and `labels` onto a version if production is on `expect_production`.

        The check, the release number and the move share one BEGIN IMMEDIATE transaction, so of two syncs that
        measured the same baseline exactly one wins, and no release number is handed out twice.
        """
        _check_labels(labels)
        with self._write() as db:
            if self._find(db, name, version=version) is None:
                raise self._not_found(db, name, version, None)
            held = db.execute("SELECT version FROM labels WHERE name = ? AND label = ?", (name, PRODUCTION)).fetchone()
            current = held[0] if held else None
            if current != expect_production:
                raise ConcurrentChange(production_moved(name, expect_production, current))
            self._move(db, name, version, [PRODUCTION, next_release(self._labels(db, name)), *labels])
            found = self._find(db, name, version=version)
            assert found is not None
            return found

    # -- datasets (promptops/registry/local_datasets.py) -------------------------------------------

    def sync_dataset(self, dataset: DatasetSpec, *, dry_run: bool = False) -> DatasetSyncResult:
        """Create or update the dataset, upsert changed items by id, archive items no longer in git.

        With `dry_run`, count what would be written and write nothing (nor create the file).
        """
        return self.datasets.sync(dataset, dry_run=dry_run)

    def list_datasets(self) -> list[DatasetInfo]:
        """Return every dataset's name, description and metadata, by name."""
        return self.datasets.listing()

    def dataset_items(self, name: str) -> list[RemoteItem]:
        """Return the active items of a dataset, in the order they were first stored."""
        return self.datasets.items(name)
