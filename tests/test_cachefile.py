"""The signed cache file: what this machine wrote is read back; anything else is ignored, never trusted."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import stat
from pathlib import Path

import pytest

from promptops.cachefile import SignedJson, SignedShards


@pytest.fixture(autouse=True)
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg"


def test_what_was_saved_is_loaded_and_the_key_is_private(tmp_path: Path, cache_home: Path) -> None:
    cache = SignedJson(tmp_path / "repo" / ".promptops" / "cache" / "state.json", "test")
    assert cache.load() == {}
    cache.save({"a": [1, 2]})
    assert SignedJson(cache.path, "test").load() == {"a": [1, 2]}
    key = cache_home / "promptops" / "cache-key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (tmp_path / "repo" / ".promptops" / ".gitignore").read_text("utf-8") == "# created by promptops\n*\n"


@pytest.mark.parametrize(
    "spoil",
    [
        lambda text: text[:-5],  # cut short
        lambda text: "not json",
        lambda text: json.dumps({**json.loads(text), "format": 99}),  # another format
        lambda text: json.dumps({**json.loads(text), "body": json.dumps({"a": "forged"})}),  # edited body
    ],
    ids=["truncated", "garbage", "other-format", "forged"],
)
def test_a_spoiled_file_is_ignored(tmp_path: Path, spoil: object) -> None:
    cache = SignedJson(tmp_path / "state.json", "test")
    cache.save({"a": "mine"})
    cache.path.write_text(spoil(cache.path.read_text("utf-8")), "utf-8")  # type: ignore[operator]
    assert SignedJson(cache.path, "test").load() == {}


def test_another_machine_or_purpose_is_not_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = SignedJson(tmp_path / "state.json", "test")
    cache.save({"a": 1})
    assert SignedJson(cache.path, "other purpose").load() == {}
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "elsewhere"))  # another user's (or a CI runner's) key
    assert SignedJson(cache.path, "test").load() == {}


def _save_many(path: str, worker: int) -> None:
    cache = SignedJson(Path(path), "test")
    for n in range(50):
        cache.save({"worker": worker, "n": n, "pad": "x" * 10_000})


def test_writers_at_once_leave_a_whole_file(tmp_path: Path) -> None:
    SignedJson(tmp_path / "state.json", "test").save({"first": True})  # one key, made before the writers start
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_save_many, args=(str(tmp_path / "state.json"), w)) for w in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    final = SignedJson(tmp_path / "state.json", "test").load()
    assert final["n"] == 49 and final["worker"] in (0, 1, 2)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def _key(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


def _shard_of(key: str) -> str:
    return f"{int(key[:2], 16) * SignedShards.SHARDS // 256:02x}.pickle"


def test_shards_rewrite_only_what_changed_and_a_spoiled_shard_costs_only_its_entries(tmp_path: Path) -> None:
    folder = tmp_path / "shards"
    entries = {_key(n): {"value": n} for n in range(500)}
    first = SignedShards(folder, "test")
    assert all(first.get(k) is None for k in entries)
    first.save(entries)
    assert len(list(folder.iterdir())) == SignedShards.SHARDS  # 500 random keys fill every shard

    again = SignedShards(folder, "test")
    loaded = {k: again.get(k) for k in entries}
    assert loaded == entries
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    changed, gone = _key(1), _key(2)
    kept = {k: v for k, v in loaded.items() if k != gone}  # the very objects get() gave, but one
    kept[changed] = {"value": "new"}
    kept[_key(1000)] = {"value": 1000}
    again.save(kept)
    touched = {p.name for p in folder.iterdir() if before.get(p.name) != p.stat().st_mtime_ns}
    assert touched == {_shard_of(k) for k in (changed, gone, _key(1000))}
    reread = SignedShards(folder, "test")
    assert {k: reread.get(k) for k in kept} == kept and reread.get(gone) is None

    spoiled = _shard_of(changed)
    (folder / spoiled).write_bytes(b"\0" * 40)
    survivors = SignedShards(folder, "test")
    assert {k: survivors.get(k) for k in kept} == {k: (None if _shard_of(k) == spoiled else v) for k, v in kept.items()}
    other = SignedShards(folder, "other purpose")
    assert all(other.get(k) is None for k in kept)

    emptied = SignedShards(folder, "test")
    emptied.save({})  # no key asked, none kept: every shard goes
    assert list(folder.iterdir()) == []


def test_shards_load_only_what_is_asked_and_keep_what_they_are_told(tmp_path: Path) -> None:
    folder = tmp_path / "shards"
    entries = {_key(n): {"value": n, "file": f"f{n % 3}"} for n in range(300)}
    SignedShards(folder, "test").save(entries)
    asked = SignedShards(folder, "test")
    one = _key(7)
    assert asked.get(one) == entries[one]
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    new = _key(5000)
    asked.save({new: {"value": "new", "file": "f1"}}, keep=lambda _, entry: entry["file"] != "f0")
    touched = {p.name for p in folder.iterdir() if before.get(p.name) != p.stat().st_mtime_ns}
    dropping = any(_shard_of(k) == _shard_of(one) and e["file"] == "f0" for k, e in entries.items())
    assert touched == {_shard_of(new)} | ({_shard_of(one)} if dropping else set())  # the loaded ones, and no other
    after = SignedShards(folder, "test")
    for key, entry in entries.items():
        rewritten = _shard_of(key) in touched
        assert after.get(key) == (None if rewritten and entry["file"] == "f0" else entry)  # others: as they were
    assert after.get(new) == {"value": "new", "file": "f1"}

    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    reader = SignedShards(folder, "test")  # one that reads a shard and keeps all rewrites nothing
    assert reader.get(one) is not None
    reader.save({}, keep=lambda *_: True)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
