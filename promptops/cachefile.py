"""A JSON cache file that only this machine's promptops trusts: signed, versioned, replaced atomically.

Caches live under .promptops/ in the repository, which a pull request could fill (`git add -f`): a committed
cache that claims a prompt validates, or that production holds some content, must never be believed. So every
cache file carries an HMAC made with a key that lives outside the repository, in this user's cache folder
(`$XDG_CACHE_HOME/promptops/cache-key`, else `~/.cache/...`): a file from elsewhere, a corrupt one, or one of
another format is ignored and rebuilt. Writers replace the file in one `os.replace`, so two processes at once
never see half a file; the later one wins, and both wrote a valid cache.

SignedPickle holds Python values (frozen dataclasses) for the validation cache, where JSON decoding cost more
than the parsing it saves: it is unpickled only after its signature checked out, so only a file made with this
user's key is ever unpickled (forging one needs that key, which needs this user's rights already).
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import json
import os
import pickle
import secrets
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

FORMAT = 1
KEY_BYTES = 32
MAX_CACHE_BYTES = 512 * 1024 * 1024  # a cache file larger than this is ignored and rebuilt


def machine_key() -> bytes:
    """Return this user's cache key, creating it (readable by this user only) on first use."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(base) / "promptops" / "cache-key"
    try:
        return bytes.fromhex(path.read_text("ascii").strip())
    except (OSError, ValueError):
        pass
    key = secrets.token_bytes(KEY_BYTES)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".key-")
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(key.hex())
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)  # never replaces a key another process wrote a moment ago
        except FileExistsError:
            os.unlink(tmp)
            return bytes.fromhex(path.read_text("ascii").strip())
        os.unlink(tmp)
    except OSError:
        pass  # no writable cache folder: this process signs with a key of its own, so nothing it reads is trusted
    return key


_one_command = False  # within one_command(): what is loaded lives until the command ends


@contextmanager
def one_command() -> Iterator[None]:
    """Run one command of the CLI (one per process). A cache loaded within it is frozen out of the garbage
    collector's walks (gc.freeze), since it lives to the end: each walk of a large cache (a 2,000-prompt
    validation cache is about a million objects) costs more than loading it. After it, everything is unfrozen,
    so a process that runs many commands (the tests) collects as usual."""
    global _one_command
    _one_command = True
    try:
        yield
    finally:
        _one_command = False
        gc.unfreeze()


class SignedJson:
    """One cache file: `load()` gives its content when this machine wrote it, else {}; `save()` replaces it."""

    def __init__(self, path: Path, purpose: str) -> None:
        self.path, self.purpose = path, purpose
        self._key: bytes | None = None

    def _mac(self, body: str) -> str:
        if self._key is None:
            self._key = machine_key()
        message = f"{self.purpose}\0{FORMAT}\0{body}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def load(self) -> dict[str, Any]:
        """Return the cached content, or {} when the file is missing, corrupt, foreign or of another format."""
        try:
            wrapper = json.loads(_bounded_read(self.path).decode("utf-8"))
            body = wrapper["body"]
            if wrapper.get("format") != FORMAT or not isinstance(body, str):
                return {}
            if not hmac.compare_digest(str(wrapper.get("mac", "")), self._mac(body)):
                return {}
            data = json.loads(body)
        except (OSError, ValueError, KeyError, TypeError):
            return {}
        return data if isinstance(data, dict) else {}

    def save(self, data: dict[str, Any]) -> None:
        """Write the content signed, atomically; a cache that cannot be written is silently skipped."""
        body = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
        text = json.dumps({"format": FORMAT, "purpose": self.purpose, "mac": self._mac(body), "body": body})
        try:
            _replace(self.path, text.encode("utf-8"))
        except OSError:
            return


def _bounded_read(path: Path) -> bytes:
    """Return a cache file's bytes, refusing (OSError) anything but a bounded regular file.

    .promptops/ is in the checkout: a pull request can commit a link there to /dev/zero or to a FIFO.
    """
    from promptops.files import regular_bytes

    data = regular_bytes(path, MAX_CACHE_BYTES)
    if data is None:
        raise OSError(f"{path} is not a regular file of at most {MAX_CACHE_BYTES:,} bytes")
    return data


def _replace(path: Path, data: bytes) -> None:
    """Write `data` to `path` in one os.replace, creating .promptops/ (with its .gitignore) as needed."""
    folder = path.parent
    linked = [path, folder] + ([folder.parent] if folder.parent.name == ".promptops" else [])
    if any(p.is_symlink() for p in linked):  # a pull request can commit .promptops/cache -> elsewhere
        raise OSError(f"{path}: promptops never writes a cache through a link")
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    top = folder if folder.name == ".promptops" else folder.parent
    if made and top.name == ".promptops" and not (top / ".gitignore").exists():
        (top / ".gitignore").write_text("# created by promptops\n*\n", "utf-8")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}-")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


class SignedPickle:
    """Like SignedJson, for Python values: `load()` unpickles only a file whose signature is this machine's."""

    def __init__(self, path: Path, purpose: str) -> None:
        self.path, self.purpose = path, purpose
        self._key: bytes | None = None

    def _mac(self, body: bytes) -> bytes:
        if self._key is None:
            self._key = machine_key()
        header = f"{self.purpose}\0{FORMAT}\0".encode()
        return hmac.new(self._key, header + body, hashlib.sha256).digest()

    def load(self) -> Any:
        """Return the cached value, or None when the file is missing, corrupt, foreign or of another format."""
        try:
            data = _bounded_read(self.path)
        except OSError:
            return None
        mac, body = data[:32], data[32:]
        if len(mac) != 32 or not hmac.compare_digest(mac, self._mac(body)):
            return None
        collecting = gc.isenabled()
        gc.disable()  # a cache is thousands of small objects: collections while building them double the time
        try:
            return pickle.loads(body)  # noqa: S301 - signed with this user's key, checked above
        except Exception:  # a value of an older promptops whose classes changed: rebuild
            return None
        finally:
            if _one_command:
                gc.freeze()  # it lives until the command ends: later collections need never walk it
            if collecting:
                gc.enable()

    def save(self, value: Any) -> None:
        """Write the value signed, atomically; a cache that cannot be written is silently skipped."""
        try:
            body = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
            _replace(self.path, self._mac(body) + body)
        except (OSError, pickle.PicklingError, TypeError, AttributeError):
            return


class SignedShards:
    """A dict of hex-digest keys kept in SHARDS SignedPickle files by each key's first two digits, each loaded the
    first time a key of it is asked, so that a command reads only the shards it needs and a save rewrites only
    the shards whose entries changed (one changed file touches a few, not the whole cache).

    Each shard is replaced atomically on its own; two processes at once may leave shards of either, and every
    entry in them is whole. A shard that is missing, corrupt or foreign is only a shard's worth of misses.
    """

    SHARDS = 64

    def __init__(self, folder: Path, purpose: str) -> None:
        self.files = [SignedPickle(folder / f"{n:02x}.pickle", f"{purpose}\0{n}") for n in range(self.SHARDS)]
        self._shards: list[dict[str, Any] | None] = [None] * self.SHARDS  # None: not loaded
        self._foreign: set[int] = set()  # loaded shards whose file is corrupt or not ours: replaced on save

    def _shard(self, key: str) -> int:
        return int(key[:2], 16) * self.SHARDS // 256

    def _loaded(self, n: int) -> dict[str, Any]:
        shard = self._shards[n]
        if shard is None:
            value = self.files[n].load()
            if not isinstance(value, dict):
                if os.path.lexists(self.files[n].path):
                    self._foreign.add(n)
                value = {}
            self._shards[n] = shard = value  # signed by this machine: its keys are those save() put in this shard
        return shard

    def get(self, key: str) -> Any | None:
        """Return the entry of `key`, or None."""
        return self._loaded(self._shard(key)).get(key)

    def save(self, entries: dict[str, Any], keep: Callable[[str, Any], bool] | None = None) -> None:
        """Make the shards hold `entries` and, of what they held, the entries `keep` (given key and value)
        accepts. With `keep` None they hold `entries` only: a shard no key was asked of is removed. Otherwise
        such a shard is left as it is, and a shard is rewritten only when its entries differ from those loaded
        (a value is the same when it is the very object get() gave)."""
        shards: list[dict[str, Any]] = [{} for _ in self.files]
        for key, value in entries.items():
            shards[self._shard(key)][key] = value
        for n, (store, new) in enumerate(zip(self.files, shards, strict=True)):
            old = self._shards[n]
            if old is None and not new:
                if keep is None and os.path.lexists(store.path):
                    _remove(store.path)
                continue
            old = self._loaded(n)
            if keep is not None:
                new = {**{k: v for k, v in old.items() if k not in new and keep(k, v)}, **new}
            if n not in self._foreign and new.keys() == old.keys() and all(new[k] is old[k] for k in new):
                continue
            if new:
                store.save(new)
            else:
                _remove(store.path)
            self._shards[n] = new
            self._foreign.discard(n)


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass
