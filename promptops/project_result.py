"""The whole of validate's answer, kept for a repository in which no file changed: nothing is loaded at all.

To know that no file changed, ProjectResult hashes every file under the prompts folder, except one whose stat
(size, times, inode) is as recorded and that was already old when it was hashed (git's rule against racy
entries). The hashes it reads serve the per-file cache too (validation_cache.ValidationCache), which then
knows without a read that a file missing from a folder listed here does not exist.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from pathlib import Path
from typing import Any

from promptops.cachefile import SignedPickle
from promptops.files import regular_bytes
from promptops.model import DATASETS_DIR, Diagnostic, Project, ProjectConfig, PromptSpec
from promptops.validation_cache import FORMAT, config_text, custom_targets, package_fingerprint

RACY_NS = 2_000_000_000  # a file changed this close to being hashed is hashed again next time


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
        self.datasets_key: str | None = None  # hash of the datasets folder, None when it holds anything but files
        self.dirs: frozenset[str] = frozenset()  # project-relative folders listed, with every entry, for the key
        self.listed: frozenset[str] = frozenset()  # ... and every entry found in them (links, FIFOs too)

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
            digest = hashlib.sha256(f"{FORMAT}\0{package_fingerprint()}\0{config_text(self.config)}".encode())
            datasets: hashlib._Hash | None = hashlib.sha256()
            dirs, listed = {prefix[:-1]}, set()
            for rel, path in _tree(prompts):
                listed.add(prefix + rel)
                info = os.lstat(path)
                if stat.S_ISDIR(info.st_mode):
                    dirs.add(prefix + rel)
                entry = f"\0{rel}\0{info.st_mode}\0".encode()  # a link, a FIFO, an unreadable file all count
                digest.update(entry)
                in_datasets = rel == DATASETS_DIR or rel.startswith(DATASETS_DIR + "/")
                if in_datasets and datasets is not None:
                    datasets.update(entry)
                    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
                        datasets = None  # what a link gives can change with nothing here changing
                if stat.S_ISLNK(info.st_mode):
                    digest.update(f"{os.readlink(path)}\0{_led_to(path)}".encode())
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
                    if in_datasets and datasets is not None:
                        datasets.update((sha or "unreadable").encode())
            self.datasets_key = datasets.hexdigest() if datasets is not None else None
            self.dirs, self.listed = frozenset(dirs), frozenset(listed)
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

        targets = {t for spec in prompts for t in custom_targets(spec)}
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
                "prompts": project.prompt_count,
                "datasets": len(project.datasets),
                "modules": self._modules(project.prompts),
            }
        )
        if with_project:
            self.loaded.save({"key": self.key(), "root": self._root(), "project": project})


def _led_to(link: str) -> str:
    """Return what reading through a link finds: where it resolves and that file's hash (a target that changes
    or goes changes what loading reports, with no file here changing). What is read through a link to a folder
    is not listed here at all, so such a link makes every key new: the whole result is never taken then."""
    real = os.path.realpath(link)
    if os.path.isdir(real):
        return f"a folder, {time.time_ns()}"
    data = regular_bytes(Path(link))
    return f"{real}\0{hashlib.sha256(data).hexdigest() if data is not None else 'unreadable'}"


def _tree(folder: Path) -> list[tuple[str, str]]:
    """Return (path relative to `folder` in POSIX form, full path) of every entry below it, sorted, without
    following links into other folders."""
    found = []
    top_length = len(str(folder)) + 1
    for top, dirs, names in os.walk(folder, followlinks=False):
        relative = top[top_length:].replace(os.sep, "/")
        found += [(f"{relative}/{n}" if relative else n, os.path.join(top, n)) for n in (*dirs, *names)]
    return sorted(found)
