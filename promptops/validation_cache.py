"""The incremental cache of loading and validating prompt files, the way ruff and pre-commit skip unchanged files.

A prompt file's result (its parsed spec, its problems, its rendered prompt) is keyed by everything that can
change it: the file's bytes and its sibling template's, the project config, and promptops itself (its version
and the size and mtime of its own source files, so an edited promptops never reads an old result). Every
partial a prompt's checks looked up is recorded with its hash (None for one that was missing, so its arrival
counts too) and checked on every read. Dataset files and the secret scan are cached by their bytes the same
way. Cross-file checks (duplicate names, datasets an experiment names, dataset coverage) always run. To know
that no file changed, ProjectResult hashes every file, except one whose stat (size, times, inode) is as
recorded and that was already old when it was hashed (git's rule against racy entries). The files are this
machine's signed cache (cachefile.SignedShards: a command rewrites only the shards whose entries changed): one
a PR commits, or a corrupt one, is ignored and rebuilt, and is never unpickled.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import posixpath
import stat
import time
import typing
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from promptops import __version__
from promptops.cachefile import SignedPickle, SignedShards
from promptops.files import regular_bytes
from promptops.model import DatasetSpec, Diagnostic, Project, ProjectConfig, PromptSpec, RenderedPrompt

T = TypeVar("T")
FORMAT = "validate-3"
RACY_NS = 2_000_000_000  # a file changed this close to being hashed is hashed again next time
LoadResult = tuple[PromptSpec | None, list[Diagnostic], bool]  # spec, problems (secrets too), whether it was read
CheckResult = tuple[list[Diagnostic], RenderedPrompt | None]
CheckedPrompt = tuple[list[Diagnostic], RenderedPrompt | None, set[str]]  # ... and the include names looked up


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

    def __init__(self, root: Path, config: ProjectConfig, digests: Mapping[str, str | None] | None = None) -> None:
        self.root = root
        self.store = SignedShards(root / ".promptops" / "cache" / "validate", FORMAT)
        self.old: dict[str, Any] = self.store.load()
        self.new: dict[str, Any] = {}
        self.base = hashlib.sha256(f"{FORMAT}\0{package_fingerprint()}\0{_config_text(config)}".encode()).hexdigest()
        self._digests: dict[str, str | None] = dict(digests or {})  # by project-relative path; ProjectResult.key
        self._changed = False  # a result was computed this run (a hit under an unchanged key is no change)
        self._prompts_dir = (root / config.prompts_dir).relative_to(root).as_posix()  # "prompts", or "."
        self._file_keys: dict[tuple[str, str], str] = {}  # (kind, prompt file) -> its key, made once

    def digest(self, rel: str) -> str | None:
        """Return the hash of the bytes of a file (by its project-relative path; None when it is not a readable
        regular file), once per command."""
        if rel not in self._digests:
            # Bounded and non-blocking like every read of the checkout: a PR's link to a FIFO or a huge file.
            data = regular_bytes(self.root / rel)
            self._digests[rel] = hashlib.sha256(data).hexdigest() if data is not None else None
        return self._digests[rel]

    def _key(self, kind: str, *parts: object) -> str:
        return hashlib.sha256("\0".join(map(str, (self.base, kind, *parts))).encode()).hexdigest()

    def _file_key(self, kind: str, rel: str) -> str:
        """Return the key of a result about one prompt file: its path and the bytes of it and its template."""
        if (kind, rel) not in self._file_keys:
            template = _sibling_template(rel)
            self._file_keys[kind, rel] = self._key(kind, rel, self.digest(rel), self.digest(template))
        return self._file_keys[kind, rel]

    def _hit(self, key: str) -> Any | None:
        if key in self.new:  # used or made already by this command: its files were checked then
            return self.new[key].get("value")
        entry = self.old.get(key)
        if not isinstance(entry, dict):
            return None
        deps = entry.get("deps", {})
        if not isinstance(deps, dict) or any(self.digest(rel) != sha for rel, sha in deps.items()):
            return None
        self.new[key] = entry
        return entry.get("value")

    def _put(self, key: str, value: Any, deps: Mapping[str, str | None] | None = None) -> None:
        self.new[key] = {"value": value, "deps": dict(deps or {})}
        self._changed = True

    def _memo(
        self, key: str, compute: Callable[[], T], deps: Callable[[T], Mapping[str, str | None]] | None = None
    ) -> T:
        """Return the cached value for `key`, or compute and keep it (with the files it depends on)."""
        hit = self._hit(key)
        if hit is not None:
            return typing.cast(T, hit)
        value = compute()
        self._put(key, value, deps(value) if deps else None)
        return value

    # -- what is cached ----------------------------------------------------------------------------

    def has_prompt(self, rel: str) -> bool:
        """Return whether prompt() would answer from the cache (its result need not be computed)."""
        return self._hit(self._file_key("prompt", rel)) is not None

    def prompt(self, rel: str, load: Callable[[], LoadResult]) -> LoadResult:
        """Return a prompt file's spec and load problems, from the cache when the file is unchanged."""
        spec, problems, read = self._memo(self._file_key("prompt", rel), lambda: _frozen_load(load()))
        return spec, list(problems), read

    def has_check(self, spec: PromptSpec) -> bool:
        """Return whether check() would answer from the cache (the prompt need not be checked)."""
        return self._hit(self._file_key("check", spec.path)) is not None

    def check(self, spec: PromptSpec, run: Callable[[], CheckedPrompt]) -> CheckResult:
        """Return a prompt's template problems and rendering, recomputed when it or a partial it includes changed.
        `run` also gives the include names its checks looked up, found or not (a missing partial that appears
        changes the answer too): those are what the result depends on, beside the prompt's own files."""
        key = self._file_key("check", spec.path)
        hit = self._hit(key)
        if hit is not None:
            problems, rendered = hit
            return list(problems), rendered
        problems, rendered, included = run()
        found = {spec.path, spec.template_path}
        for name in included:
            normal = posixpath.normpath(name)
            if not normal.startswith(("/", "../")) and not any(p.startswith(".") for p in normal.split("/")):
                found.add(normal if self._prompts_dir == "." else f"{self._prompts_dir}/{normal}")  # never outside
        self._put(key, (tuple(problems), rendered), {rel: self.digest(rel) for rel in sorted(found)})
        return list(problems), rendered

    def dataset(
        self, rel: str, load: Callable[[], tuple[DatasetSpec | None, list[Diagnostic]]]
    ) -> tuple[DatasetSpec | None, list[Diagnostic]]:
        """Return a dataset file's spec and problems, from the cache when the file is unchanged."""
        dataset, problems = self._memo(self._key("dataset", rel, self.digest(rel)), lambda: _frozen(load()))
        return dataset, list(problems)

    def secrets(self, rel: str, scan: Callable[[], list[Diagnostic]]) -> list[Diagnostic]:
        """Return the secret findings of a file, from the cache when its bytes are unchanged."""
        return list(self._memo(self._key("secrets", rel, self.digest(rel)), lambda: tuple(scan())))

    def save(self, *, prune: bool = True) -> None:
        """Write what this command used, if anything changed. With `prune` (a command that read every file), the
        results of files that are gone drop out; a command that read a few keeps the others' results."""
        entries = self.new if prune else {**self.old, **self.new}
        if self._changed or entries.keys() != self.old.keys():
            self.store.save(entries)


def _frozen(result: tuple[T, list[Diagnostic]]) -> tuple[T, tuple[Diagnostic, ...]]:
    """Return a (value, problems) result with the problems as a tuple: a cached value is never mutated."""
    value, problems = result
    return value, tuple(problems)


def _frozen_load(result: LoadResult) -> tuple[PromptSpec | None, tuple[Diagnostic, ...], bool]:
    spec, problems, read = result
    return spec, tuple(problems), read


class ProjectResult:
    """The whole of `validate`'s answer for a repository whose files all are as they were: nothing is loaded.
    Beside it, the loaded project itself, for the commands that need all of it (diff, sync, check).

    Keyed by every file under the prompts folder (paths and bytes), the config and promptops itself; the
    custom `module:function` targets the prompts name are resolved again on every read (that resolution
    depends on installed packages, outside the repository).
    """

    def __init__(self, root: Path, config: ProjectConfig) -> None:
        self.root, self.config = root, config
        self.store = SignedPickle(root / ".promptops" / "cache" / "validate-result.pickle", f"{FORMAT}-project")
        # The loaded and rendered project itself, apart: a warm validate needs only the answer, not the project.
        self.loaded = SignedPickle(root / ".promptops" / "cache" / "validate-project.pickle", f"{FORMAT}-loaded")
        self._key: str | None = None
        self._saved: dict[str, Any] | None = None
        self._files: dict[str, tuple[tuple[int, ...], str, bool]] = {}  # rel -> (stat, sha256, trusted), for save
        self.digests: dict[str, str | None] = {}  # project-relative path -> hash, read for the key (ValidationCache)

    def _previous(self) -> dict[str, Any]:
        if self._saved is None:
            loaded = self.store.load()
            self._saved = loaded if isinstance(loaded, dict) else {}
        return self._saved

    def key(self) -> str:
        """Return the hash of every file under the prompts folder, the config and promptops itself.

        A file's hash is read again unless its size, times, inode and device are those recorded when it was last
        hashed and it was already old then (git's rule against "racy" entries: a file written within the clock's
        granularity of being recorded may change again without its stat changing).
        """
        if self._key is None:
            known = self._previous().get("files", {})
            now = time.time_ns()
            prompts = self.root / self.config.prompts_dir
            prefix = prompts.relative_to(self.root).as_posix() + "/"
            digest = hashlib.sha256(f"{FORMAT}\0{package_fingerprint()}\0{_config_text(self.config)}".encode())
            for rel, path in _tree(prompts):
                info = os.lstat(path)
                digest.update(f"\0{rel}\0{info.st_mode}\0".encode())  # a link, a FIFO, an unreadable file all count
                if stat.S_ISLNK(info.st_mode):
                    digest.update(os.readlink(path).encode())
                elif stat.S_ISREG(info.st_mode):
                    signature = (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev)
                    old = known.get(rel)
                    if isinstance(old, tuple) and old[0] == signature and old[2]:
                        sha: str | None = old[1]
                    else:
                        data = regular_bytes(Path(path))  # bounded, like every read of the checkout
                        sha = hashlib.sha256(data).hexdigest() if data is not None else None
                    if sha is not None:
                        trusted = max(info.st_mtime_ns, info.st_ctime_ns) < now - RACY_NS
                        self._files[rel] = (signature, sha, trusted)
                    self.digests[prefix + rel] = sha
                    digest.update((sha or "unreadable").encode())
            self._key = digest.hexdigest()
        return self._key

    def load(self) -> tuple[list[Diagnostic], int, int] | None:
        """Return (diagnostics, prompts, datasets) when nothing changed since they were saved, else None."""
        if not self.usable():
            return None
        saved = self._previous()
        if saved.get("key") != self.key() or not self._modules_unchanged(saved["modules"]):
            return None
        return list(saved["diagnostics"]), saved["prompts"], saved["datasets"]

    def load_project(self) -> tuple[Project, list[Diagnostic]] | None:
        """Return the loaded project (rendered prompts included) and its diagnostics when nothing changed."""
        known = self.load()  # the answer is small and saved with the project: it says whether that is worth loading
        if known is None:
            return None
        saved = self.loaded.load()
        if not isinstance(saved, dict) or saved.get("key") != self.key() or saved.get("root") != self._root():
            return None  # a copy of the checkout (.promptops/ included) must not answer with the other one's paths
        return saved["project"], known[0]

    def _root(self) -> str:
        return str(self.root.resolve())

    def _modules(self, prompts: tuple[PromptSpec, ...]) -> dict[str, Any]:
        """Return how each custom `module:function` the prompts name resolves now."""
        from promptops.experiment_check import module_problems

        targets = {t for spec in prompts for t in _custom_targets(spec)}
        return {t: module_problems(t, self.root) for t in sorted(targets)}

    def _modules_unchanged(self, modules: dict[str, Any]) -> bool:
        if not modules:
            return True  # validate.py (and Jinja with it) is imported only when there is something to check
        from promptops.experiment_check import module_problems

        return all(module_problems(target, self.root) == problems for target, problems in modules.items())

    def usable(self) -> bool:
        """Return whether this cache may answer: not with prompts_dir ".", where what is read depends on git."""
        return (self.root / self.config.prompts_dir).resolve() != self.root.resolve()

    def save(self, project: Project, diagnostics: list[Diagnostic], *, with_project: bool = True) -> None:
        """Keep this answer, with how each custom module the prompts name resolved, and (`with_project`) the
        loaded project: validate needs only the answer, and writing the project costs more than the rest."""
        if not self.usable():
            return
        self.store.save(
            {
                "key": self.key(),
                "files": self._files,
                "diagnostics": tuple(diagnostics),
                "prompts": len(project.prompts),
                "datasets": len(project.datasets),
                "modules": self._modules(project.prompts),
            }
        )
        if with_project:
            self.loaded.save({"key": self.key(), "root": self._root(), "project": project})


def _config_text(config: ProjectConfig) -> str:
    return json.dumps(dataclasses.asdict(config), sort_keys=True, default=str)


def _custom_targets(spec: PromptSpec) -> list[str]:
    exp = spec.experiment
    if exp is None:
        return []
    return [t for t in (exp.task, exp.retriever or "", *(e.kind for e in exp.evaluators)) if ":" in t]


def _tree(folder: Path) -> list[tuple[str, str]]:
    """Return (path relative to `folder` in POSIX form, full path) of every entry below it, sorted, without
    following links into other folders."""
    found = []
    top_length = len(str(folder)) + 1
    for top, dirs, names in os.walk(folder, followlinks=False):
        relative = top[top_length:].replace(os.sep, "/")
        found += [(f"{relative}/{n}" if relative else n, os.path.join(top, n)) for n in (*dirs, *names)]
    return sorted(found)


def _sibling_template(rel: str) -> str:
    """Return the path of a prompt file's sibling template: `a/b.yaml` -> `a/b.jinja`."""
    return posixpath.splitext(rel)[0] + ".jinja"
