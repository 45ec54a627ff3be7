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


def test_shards_rewrite_only_what_changed_and_a_spoiled_shard_costs_only_its_entries(tmp_path: Path) -> None:
    folder = tmp_path / "shards"
    entries = {_key(n): {"value": n} for n in range(500)}
    first = SignedShards(folder, "test")
    assert first.load() == {}
    first.save(entries)
    assert len(list(folder.iterdir())) == SignedShards.SHARDS  # 500 random keys fill every shard

    again = SignedShards(folder, "test")
    loaded = again.load()
    assert loaded == entries
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    changed, gone = _key(1), _key(2)
    kept = {k: v for k, v in loaded.items() if k != gone}  # the very objects load() gave, but one
    kept[changed] = {"value": "new"}
    kept[_key(1000)] = {"value": 1000}
    again.save(kept)
    touched = {p.name for p in folder.iterdir() if before.get(p.name) != p.stat().st_mtime_ns}
    expected = {f"{int(k[:2], 16) * SignedShards.SHARDS // 256:02x}.pickle" for k in (changed, gone, _key(1000))}
    assert touched == expected
    assert SignedShards(folder, "test").load() == kept

    spoiled = next(iter(expected))
    (folder / spoiled).write_bytes(b"\0" * 40)
    survivors = SignedShards(folder, "test").load()
    assert survivors == {k: v for k, v in kept.items() if f"{int(k[:2], 16) // 4:02x}.pickle" != spoiled}
    assert SignedShards(folder, "other purpose").load() == {}

    emptied = SignedShards(folder, "test")
    emptied.load()
    emptied.save({})
    assert list(folder.iterdir()) == []
