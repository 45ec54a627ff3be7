"""The signed cache file: what this machine wrote is read back; anything else is ignored, never trusted."""

from __future__ import annotations

import json
import multiprocessing
import stat
from pathlib import Path

import pytest

from promptops.cachefile import SignedJson


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
