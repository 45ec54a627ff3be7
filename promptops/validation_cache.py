"""The incremental cache of loading and validating prompt files, the way ruff and pre-commit skip unchanged files.

A prompt file's result (its parsed spec, its problems, its rendered prompt) is keyed by everything that can
change it: the file's bytes and its sibling template's, the project config, and promptops itself (its version
and the size and mtime of its own source files, so an edited promptops never reads an old result). Every
partial a prompt's checks looked up is recorded with its hash (None for one that was missing, so its arrival
counts too) and checked on every read. Dataset files and the secret scan are cached by their bytes the same
way. Cross-file checks (duplicate names, datasets an experiment names, dataset coverage) always run. validate
itself keeps an answer per prompt file besides (its problems and the facts the cross-file checks need), so a
file whose answer holds is not even loaded. The files are this machine's signed cache (cachefile.SignedShards:
a command rewrites only the shards whose entries changed): one a PR commits, or a corrupt one, is ignored and
rebuilt, and is never unpickled. The whole result, for when no file changed, is project_result.ProjectResult.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import posixpath
import typing
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from promptops import __version__
from promptops.cachefile import SignedShards
from promptops.files import regular_bytes
from promptops.model import (
    DatasetSpec,
    Diagnostic,
    ProjectConfig,
    PromptAnswer,
    PromptFacts,
    PromptSpec,
    RenderedPrompt,
)

if TYPE_CHECKING:
    from promptops.project_result import ProjectResult

T = TypeVar("T")
FORMAT = "validate-4"
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

    def __init__(
        self, root: Path, config: ProjectConfig, tree: ProjectResult | None = None, *, answering: bool = False
    ) -> None:
        """`tree`: the whole-result key, whose hashes of every file are taken (it is made here if it was not yet).
        `answering`: this is validate itself, which keeps and takes an answer per prompt file (with `tree`)."""
        self.root = root
        if tree is not None and tree.usable():
            tree.key()  # what its digests, folders and datasets key below come from (memoized)
        self.store = SignedShards(root / ".promptops" / "cache" / "validate", FORMAT)
        self.new: dict[str, Any] = {}  # what this command used or made, by key: {"value": ..., "deps": {...}}
        self.base = hashlib.sha256(f"{FORMAT}\0{package_fingerprint()}\0{config_text(config)}".encode()).hexdigest()
        self._digests: dict[str, str | None] = dict(tree.digests) if tree is not None else {}  # by path
        self._dirs = tree.dirs if tree is not None else frozenset()  # ... the folders it listed wholly
        self._listed = tree.listed if tree is not None else frozenset()  # ... and every entry it found there
        # validate's answers per prompt file, keyed also by the datasets folder's hash, on which a prompt's
        # experiment problems depend: the prompt files that an answer covers are not loaded at all.
        self._datasets_key = tree.datasets_key if answering and tree is not None else None
        self.answers = SignedShards(root / ".promptops" / "cache" / "answers", f"{FORMAT}-answers")
        self._answers_new: dict[str, Any] = {}
        self._answered: set[str] = set()  # prompt files answered: their results stay in the store, unread
        self._prompts_dir = (root / config.prompts_dir).relative_to(root).as_posix()  # "prompts", or "."
        self._file_keys: dict[tuple[str, str], str] = {}  # (kind, prompt file) -> its key, made once

    def digest(self, rel: str) -> str | None:
        """Return the hash of the bytes of a file (by its project-relative path; None when it is not a readable
        regular file), once per command."""
        if rel not in self._digests:
            if posixpath.dirname(rel) in self._dirs and rel not in self._listed:
                self._digests[rel] = None  # not in a folder the whole-result key listed: no such file
            else:
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

    def _hit(self, key: str, store: SignedShards | None = None, new: dict[str, Any] | None = None) -> Any | None:
        store, new = store or self.store, self.new if new is None else new
        if key in new:  # used or made already by this command: its files were checked then
            return new[key].get("value")
        entry = store.get(key)
        if not isinstance(entry, dict):
            return None
        deps = entry.get("deps", {})
        if not isinstance(deps, dict) or any(self.digest(rel) != sha for rel, sha in deps.items()):
            return None
        new[key] = entry
        return entry.get("value")

    def _put(self, key: str, value: Any, deps: Mapping[str, str | None] | None = None, file: str = "") -> None:
        self.new[key] = {"value": value, "deps": dict(deps or {}), "file": file}

    def _memo(self, key: str, compute: Callable[[], T], file: str = "") -> T:
        """Return the cached value for `key`, or compute and keep it (`file`: the prompt file it is about)."""
        hit = self._hit(key)
        if hit is not None:
            return typing.cast(T, hit)
        value = compute()
        self._put(key, value, file=file)
        return value

    # -- what is cached ----------------------------------------------------------------------------

    def has_prompt(self, rel: str) -> bool:
        """Return whether prompt() would answer from the cache (its result need not be computed)."""
        return self._hit(self._file_key("prompt", rel)) is not None

    def prompt(self, rel: str, load: Callable[[], LoadResult]) -> LoadResult:
        """Return a prompt file's spec and load problems, from the cache when the file is unchanged."""
        spec, problems, read = self._memo(self._file_key("prompt", rel), lambda: _frozen_load(load()), rel)
        if spec is None and self._datasets_key is not None:  # a file that did not load: its problems are its answer
            self._answers_new[self._answer_key(rel)] = {"value": PromptAnswer(tuple(problems), read), "deps": {}}
        return spec, list(problems), read

    # -- validate's answers ------------------------------------------------------------------------

    def _answer_key(self, rel: str) -> str:
        return self._key("answer", rel, self.digest(rel), self.digest(_sibling_template(rel)), self._datasets_key)

    def answer(self, rel: str) -> PromptAnswer | None:
        """Return validate's answer about a prompt file kept by an earlier validate, when the file, its template,
        the partials its checks looked up and the datasets folder are all unchanged (with a datasets key only:
        validate's own path). The file's other results stay in the cache unread."""
        if self._datasets_key is None:
            return None
        hit = self._hit(self._answer_key(rel), self.answers, self._answers_new)
        if isinstance(hit, PromptAnswer):
            self._answered.add(rel)
            return hit
        return None

    def keep_answer(self, spec: PromptSpec, problems: list[Diagnostic]) -> None:
        """Keep validate's answer about a loaded prompt: its load problems, `problems` (those of its templates
        and experiment) and its facts; it depends on what its checks depended on. A prompt that names custom
        code is never kept: where that code is found depends on what is installed, outside the repository."""
        if self._datasets_key is None or custom_targets(spec):
            return
        loaded = self.new.get(self._file_key("prompt", spec.path))
        checked = self.new.get(self._file_key("check", spec.path))
        if loaded is None or checked is None:
            return
        _, load_problems, read = loaded["value"]
        answer = PromptAnswer(tuple(load_problems), read, tuple(problems), PromptFacts.of(spec))
        self._answers_new[self._answer_key(spec.path)] = {"value": answer, "deps": checked["deps"]}

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
        self._put(key, (tuple(problems), rendered), {rel: self.digest(rel) for rel in sorted(found)}, spec.path)
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
        """Write what this command used, where it changed. With `prune` (a command that read every file), the
        results of files that are gone drop out; a command that read a few keeps the others' results. On
        validate's own path the results of the files it answered are kept unread, and its answers pruned."""
        if self._datasets_key is not None:
            answered = self._answered
            self.store.save(self.new, keep=lambda _, entry: isinstance(entry, dict) and entry.get("file") in answered)
            self.answers.save(self._answers_new)
        else:
            self.store.save(self.new, keep=None if prune else lambda *_: True)


def _frozen(result: tuple[T, list[Diagnostic]]) -> tuple[T, tuple[Diagnostic, ...]]:
    """Return a (value, problems) result with the problems as a tuple: a cached value is never mutated."""
    value, problems = result
    return value, tuple(problems)


def _frozen_load(result: LoadResult) -> tuple[PromptSpec | None, tuple[Diagnostic, ...], bool]:
    spec, problems, read = result
    return spec, tuple(problems), read


def config_text(config: ProjectConfig) -> str:
    return json.dumps(dataclasses.asdict(config), sort_keys=True, default=str)


def custom_targets(spec: PromptSpec) -> list[str]:
    exp = spec.experiment
    if exp is None:
        return []
    return [t for t in (exp.task, exp.retriever or "", *(e.kind for e in exp.evaluators)) if ":" in t]


def _sibling_template(rel: str) -> str:
    """Return the path of a prompt file's sibling template: `a/b.yaml` -> `a/b.jinja`."""
    return posixpath.splitext(rel)[0] + ".jinja"
