"""The incremental cache of loading and validating prompt files, the way ruff and pre-commit skip unchanged files.

A prompt file's result (its parsed spec, its problems, its rendered prompt) is keyed by everything that can
change it: the file's bytes and its sibling template's, the project config, and promptops itself (its version
and the size and mtime of its own source files, so an edited promptops never reads an old result). The partials
a prompt includes are recorded with their hashes and checked on every read. Dataset files and the secret scan
are cached by their bytes the same way. Cross-file checks (duplicate names, datasets an experiment names,
dataset coverage) are cheap and always run. The file is this machine's signed cache (cachefile.py): one a PR
commits, or a corrupt one, is ignored and rebuilt. A result whose values do not survive the trip through JSON
exactly is not cached.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, TypeVar, Union

from promptops import __version__
from promptops.cachefile import SignedJson
from promptops.model import DatasetSpec, Diagnostic, ProjectConfig, PromptSpec, RenderedPrompt

T = TypeVar("T")
FORMAT = "validate-1"
LoadResult = tuple[PromptSpec | None, list[Diagnostic]]
CheckResult = tuple[list[Diagnostic], RenderedPrompt | None]


@cache
def package_fingerprint() -> str:
    """Return a hash of promptops' own version and source files (names, sizes, mtimes): any change, a new key."""
    here = Path(__file__).resolve().parent
    parts = [__version__]
    for path in sorted(here.rglob("*")):
        if path.suffix in (".py", ".json") and path.is_file():
            stat = path.stat()
            parts.append(f"{path.relative_to(here)}\0{stat.st_size}\0{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


class ValidationCache:
    """One command's view of the cache: what it read, what it computed, and one save at the end."""

    def __init__(self, root: Path, config: ProjectConfig) -> None:
        self.root = root
        self.store = SignedJson(root / ".promptops" / "cache" / "validate.json", FORMAT)
        self.old: dict[str, Any] = self.store.load().get("entries", {})
        self.new: dict[str, Any] = {}
        config_text = json.dumps(dataclasses.asdict(config), sort_keys=True, default=str)
        self.base = hashlib.sha256(f"{FORMAT}\0{package_fingerprint()}\0{config_text}".encode()).hexdigest()
        self._digests: dict[Path, str | None] = {}

    def digest(self, path: Path) -> str | None:
        """Return the hash of a file's bytes (None when it is not a readable regular file), once per command."""
        if path not in self._digests:
            try:
                self._digests[path] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
            except OSError:
                self._digests[path] = None
        return self._digests[path]

    def _key(self, kind: str, *parts: object) -> str:
        return hashlib.sha256("\0".join(map(str, (self.base, kind, *parts))).encode()).hexdigest()

    def _hit(self, key: str) -> Any | None:
        entry = self.old.get(key) if key not in self.new else self.new[key]
        if not isinstance(entry, dict):
            return None
        deps = entry.get("deps", {})
        if not isinstance(deps, dict) or any(self.digest(self.root / rel) != sha for rel, sha in deps.items()):
            return None
        self.new[key] = entry
        return entry.get("value")

    def _put(self, key: str, value: Any, deps: Mapping[str, str | None] | None = None) -> None:
        self.new[key] = {"value": value, "deps": dict(deps or {})}

    # -- what is cached ----------------------------------------------------------------------------

    def prompt(self, path: Path, rel: str, load: Callable[[], LoadResult]) -> LoadResult:
        """Return a prompt file's spec and load problems, from the cache when the file is unchanged."""
        key = self._key("prompt", rel, self.digest(path), self.digest(path.with_suffix(".jinja")))
        hit = self._hit(key)
        if hit is not None:
            decoded = _decoded(hit, LoadCodec)
            if decoded is not None:
                return decoded.spec, list(decoded.problems)
        spec, problems = load()
        _store(self, key, LoadCodec(spec, tuple(problems)))
        return spec, problems

    def check(self, spec: PromptSpec, prompts_root: Path, run: Callable[[], CheckResult]) -> CheckResult:
        """Return a prompt's template problems and rendering, recomputed when it or a partial it reads changed."""
        from promptops.sources import source_files

        path = self.root / spec.path
        key = self._key("check", spec.path, self.digest(path), self.digest(path.with_suffix(".jinja")))
        hit = self._hit(key)
        if hit is not None:
            decoded = _decoded(hit, CheckCodec)
            if decoded is not None:
                return list(decoded.problems), decoded.rendered
        problems, rendered = run()
        sources = source_files(spec, self.root, prompts_root)
        deps = {p.relative_to(self.root).as_posix(): self.digest(p) for p in sources}
        _store(self, key, CheckCodec(tuple(problems), rendered), deps)
        return problems, rendered

    def dataset(self, path: Path, rel: str, load: Callable[[], tuple[DatasetSpec | None, list[Diagnostic]]]) -> Any:
        """Return a dataset file's spec and problems, from the cache when the file is unchanged."""
        key = self._key("dataset", rel, self.digest(path))
        hit = self._hit(key)
        if hit is not None:
            decoded = _decoded(hit, DatasetCodec)
            if decoded is not None:
                return decoded.dataset, list(decoded.problems)
        dataset, problems = load()
        _store(self, key, DatasetCodec(dataset, tuple(problems)))
        return dataset, problems

    def secrets(self, path: Path, rel: str, scan: Callable[[], list[Diagnostic]]) -> list[Diagnostic]:
        """Return the secret findings of a file, from the cache when its bytes are unchanged."""
        key = self._key("secrets", rel, self.digest(path))
        hit = self._hit(key)
        if hit is not None:
            decoded = _decoded(hit, SecretsCodec)
            if decoded is not None:
                return list(decoded.problems)
        found = scan()
        _store(self, key, SecretsCodec(tuple(found)))
        return found

    def save(self, *, prune: bool = True) -> None:
        """Write what this command used, if anything changed. With `prune` (a command that read every file), the
        results of files that are gone drop out; a command that read a few keeps the others' results."""
        entries = self.new if prune else {**self.old, **self.new}
        if entries != self.old:
            self.store.save({"entries": entries})


# -- the values, as JSON ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LoadCodec:
    spec: PromptSpec | None
    problems: tuple[Diagnostic, ...]


@dataclasses.dataclass(frozen=True)
class CheckCodec:
    problems: tuple[Diagnostic, ...]
    rendered: RenderedPrompt | None


@dataclasses.dataclass(frozen=True)
class DatasetCodec:
    dataset: DatasetSpec | None
    problems: tuple[Diagnostic, ...]


@dataclasses.dataclass(frozen=True)
class SecretsCodec:
    problems: tuple[Diagnostic, ...]


def _store(cache: ValidationCache, key: str, value: Any, deps: Mapping[str, str | None] | None = None) -> None:
    """Cache `value` only if it comes back from JSON exactly (a YAML date in a constant would not)."""
    encoded = _encode(value)
    try:
        text = json.dumps(encoded, allow_nan=False)
        if _decode(type(value), json.loads(text)) != value:
            return
    except (TypeError, ValueError):
        return
    cache._put(key, encoded, deps)


def _decoded(raw: Any, cls: type[T]) -> T | None:
    try:
        return typing.cast(T, _decode(cls, raw))
    except (TypeError, ValueError, KeyError, AttributeError):
        return None  # a foreign shape: recompute


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(hint: Any, raw: Any) -> Any:
    """Rebuild a value of type `hint` from its JSON form; raise on anything that does not fit."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return raw
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if raw is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _decode(option, raw)
            except (TypeError, ValueError, KeyError, AttributeError) as exc:
                errors.append(exc)
        raise TypeError(f"no option of {hint} fits: {errors}")
    if origin is typing.Literal:
        if raw not in typing.get_args(hint):
            raise ValueError(f"{raw!r} is not one of {typing.get_args(hint)}")
        return raw
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(raw, list):
            raise TypeError("expected a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v) for v in raw)
        return tuple(_decode(a, v) for a, v in zip(args, raw, strict=True))
    if origin in (Mapping, dict, typing.get_origin(Mapping[str, Any])):
        args = typing.get_args(hint) or (str, Any)
        if not isinstance(raw, dict):
            raise TypeError("expected an object")
        return {k: _decode(args[1], v) for k, v in raw.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(raw, dict):
            raise TypeError("expected an object")
        hints = typing.get_type_hints(hint)
        return hint(**{f.name: _decode(hints[f.name], raw[f.name]) for f in dataclasses.fields(hint)})
    if hint in (str, int, float, bool):
        if hint is float and isinstance(raw, int) and not isinstance(raw, bool):
            return float(raw)
        if not isinstance(raw, hint) or (hint is int and isinstance(raw, bool)):
            raise TypeError(f"expected {hint.__name__}")
        return raw
    if hint is type(None):
        if raw is not None:
            raise TypeError("expected null")
        return None
    raise TypeError(f"cannot decode {hint}")
