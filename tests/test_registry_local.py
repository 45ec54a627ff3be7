"""What only the local registry has: the SQLite file itself (lazy creation, WAL, migrations of old files) and
Langfuse's create-time rules enforced without a server.
"""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from promptops.errors import RegistryError
from promptops.model import DatasetSpec, ProjectConfig
from promptops.registry.local import LocalRegistry, open_local
from promptops.registry.local_schema import SCHEMA_VERSION
from tests.test_registry_contract import FR, GREETING, JP, create, dataset, mark, rendered

V1_SCHEMA = """
CREATE TABLE prompt_versions (name TEXT NOT NULL, version INTEGER NOT NULL CHECK (version >= 1),
    type TEXT NOT NULL CHECK (type IN ('text', 'chat')), prompt TEXT NOT NULL, config TEXT NOT NULL,
    tags TEXT NOT NULL, commit_message TEXT, created_at TEXT NOT NULL, PRIMARY KEY (name, version));
CREATE TABLE labels (name TEXT NOT NULL, label TEXT NOT NULL, version INTEGER NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (name, label), FOREIGN KEY (name, version) REFERENCES prompt_versions (name, version));
CREATE TABLE datasets (name TEXT PRIMARY KEY, description TEXT NOT NULL, metadata TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE dataset_items (id TEXT PRIMARY KEY, dataset TEXT NOT NULL REFERENCES datasets (name),
    status TEXT NOT NULL CHECK (status IN ('ACTIVE', 'ARCHIVED')), input TEXT, expected_output TEXT, metadata TEXT,
    updated_at TEXT NOT NULL);
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (1);
INSERT INTO prompt_versions
    VALUES ('greeting', 1, 'text', '"Hello"', '{}', '["old"]', 'by hand', '2025-01-01T00:00:00.000Z');
INSERT INTO prompt_versions VALUES ('made', 1, 'text', '"Hi"',
    '{"_promptops": {"hash": "sha256:0123456789abcdef", "commit": null, "source": "prompts/made.yaml", "version": 1}}',
    '[]', 'by promptops 0.1', '2025-01-01T00:00:00.000Z');
INSERT INTO labels VALUES ('greeting', 'production', 1, 1), ('greeting', 'latest', 1, 2), ('made', 'latest', 1, 3);
"""


def test_reading_creates_nothing_and_the_first_write_creates_the_folder(tmp_path: Path) -> None:
    reg = open_local(tmp_path, ProjectConfig())
    assert reg.describe() == "local registry at .promptops/registry.db"
    assert reg.list_prompts() == []
    assert not (tmp_path / ".promptops").exists()
    create(reg, rendered("greeting"))
    assert (tmp_path / ".promptops" / ".gitignore").read_text("utf-8") == "# created by promptops\n*\n"
    db = sqlite3.connect(tmp_path / ".promptops" / "registry.db")
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    reg.close()


def test_a_v1_file_upgrades_itself_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(V1_SCHEMA)
    old.close()
    reg = LocalRegistry(path)
    v1 = reg.get_version("greeting")
    assert (v1.version, v1.prompt, v1.tags, v1.created_by) == (1, "Hello", ("old",), None)
    assert v1.labels == ("production", "latest")  # not made by promptops: no content label
    # made by an older promptops: labelled with its content, as versions are labelled now
    assert reg.get_version("made", version=1).labels == ("latest", "content-0123456789ab")
    v2 = create(reg, rendered("greeting", "Hello again"))
    assert (v2.version, v2.created_by, v2.labels) == (2, "promptops", (mark("Hello again"), "latest"))
    db = sqlite3.connect(path)
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}
    assert indexes == {"labels_by_version", "items_by_dataset"}
    reg.close()


def test_a_file_from_a_newer_promptops_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    newer = sqlite3.connect(path)
    newer.executescript(f"CREATE TABLE schema_version (version INTEGER); INSERT INTO schema_version VALUES ({99});")
    newer.close()
    with pytest.raises(RegistryError) as err:
        LocalRegistry(path, shown="new.db").list_prompts()
    assert str(err.value) == (
        f"local registry at new.db was written by a newer promptops (schema 99, this one knows {SCHEMA_VERSION}): "
        "upgrade promptops"
    )


def test_a_file_that_is_not_a_database_is_a_registry_error(tmp_path: Path) -> None:
    (tmp_path / "junk.db").write_text("not sqlite at all, but long enough to have a header" * 4, "utf-8")
    with pytest.raises(RegistryError) as err:
        LocalRegistry(tmp_path / "junk.db", shown="junk.db").list_prompts()
    assert str(err.value) == "cannot open the local registry at junk.db: file is not a database"


def test_create_rules_match_langfuse(tmp_path: Path) -> None:
    reg = LocalRegistry(tmp_path / "r.db")
    with pytest.raises(RegistryError) as bad_label:
        create(reg, rendered("greeting"), labels=("Bad Label",))
    assert str(bad_label.value).startswith("invalid label(s) 'Bad Label': labels are 1-36 characters")
    create(reg, rendered("greeting"))
    with pytest.raises(RegistryError) as new_type:
        create(reg, rendered("greeting", ({"role": "user", "content": "hi"},)))
    assert str(new_type.value) == "greeting is a text prompt; a version cannot change its type to chat"
    labels = reg.set_labels("greeting", 1, ["Any Label Goes On Update"]).labels
    assert labels == (mark(GREETING), "latest", "Any Label Goes On Update")


def test_tags_of_a_new_version_replace_the_tags_of_every_version(tmp_path: Path) -> None:
    reg = LocalRegistry(tmp_path / "r.db")
    reg.create_raw_version("greeting", "v1", {}, tags=["a"])
    reg.create_raw_version("greeting", "v2", {})  # no tags given: the newest version's tags are kept
    create(reg, rendered("greeting", "v3"))
    assert [reg.get_version("greeting", version=n).tags for n in (1, 2, 3)] == [("demo",)] * 3


def test_unchanged_dataset_items_are_not_rewritten(tmp_path: Path) -> None:
    reg = LocalRegistry(tmp_path / "r.db")
    reg.sync_dataset(dataset(FR, JP))
    db = sqlite3.connect(tmp_path / "r.db")
    before = db.execute("SELECT id, updated_at FROM dataset_items ORDER BY id").fetchall()
    reg.sync_dataset(dataset(FR, JP))
    assert db.execute("SELECT id, updated_at FROM dataset_items ORDER BY id").fetchall() == before


def test_threads_can_share_one_instance(tmp_path: Path) -> None:
    reg = LocalRegistry(tmp_path / "r.db")
    for n in range(1, 6):
        create(reg, rendered("greeting", f"v{n}"))
    with ThreadPoolExecutor(8) as pool:  # as diff fetches changed prompts concurrently
        fetched = list(pool.map(lambda n: reg.get_version("greeting", version=n).prompt, range(1, 6)))
    assert fetched == ["v1", "v2", "v3", "v4", "v5"]


def test_an_item_id_taken_by_another_dataset_is_refused(tmp_path: Path) -> None:
    reg = LocalRegistry(tmp_path / "r.db")
    reg.sync_dataset(dataset(FR))
    with pytest.raises(RegistryError) as err:
        reg.sync_dataset(DatasetSpec("other", "prompts/datasets/other.yaml", "", (FR,)))
    assert str(err.value) == (
        "dataset item id 'fr' of 'other' already belongs to dataset 'capitals'; item ids must be unique across datasets"
    )
