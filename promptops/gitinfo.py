"""What promptops asks of git: the commit, files at another ref, what a branch changed.

Questions git answers in one command (HEAD, the work tree, status, ls-files, diff) run `git` directly; reading
objects (a file or a tree at a ref, history) goes through GitPython. Importing GitPython costs more than a whole
local experiment run's bookkeeping, and `experiment` and `validate` only ever ask the first kind.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from promptops.errors import PromptopsError


class GitError(PromptopsError):
    """git could not answer (not a repository, unknown ref, ...)."""


def _repo(root: Path) -> Any:
    import git

    try:
        return git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None


class _NotARepository(Exception):
    """`git` says the folder is not inside a work tree."""


def _git(root: Path, *args: str) -> str:
    """Return what `git -C root ARGS` prints; _NotARepository outside a work tree, GitError on other failures."""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, encoding="utf-8", errors="replace"
        )
    except FileNotFoundError:
        raise GitError("git is not installed: promptops needs the git command on PATH") from None
    if done.returncode != 0:
        if "not a git repository" in done.stderr:
            raise _NotARepository(root)
        raise GitError(f"git {args[0]} failed in {root}: {done.stderr.strip() or f'exit {done.returncode}'}")
    return done.stdout


def _top(root: Path) -> Path | None:
    """Return the work tree that contains `root`, or None outside git."""
    try:
        return Path(_git(root, "rev-parse", "--show-toplevel").strip())
    except _NotARepository:
        return None


def head_commit(root: Path) -> str | None:
    """Return the commit HEAD points at, or None outside git or before the first commit."""
    try:
        found = _git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}").strip()
    except _NotARepository:
        return None
    except GitError:
        return None  # no commit yet: `--verify --quiet` exits 1 without a message
    return found or None


def _unknown_ref_errors() -> tuple[type[Exception], ...]:
    import git
    from gitdb.exc import ODBError

    return (ODBError, ValueError, git.GitCommandError)


def commit_subject(root: Path, commit: str | None) -> str | None:
    """Return the first line of a commit's message, or None if git does not know the commit."""
    repo = _repo(root)
    if repo is None or commit is None:
        return None
    try:
        message = str(repo.commit(commit).message)
    except _unknown_ref_errors():
        return None
    return message.splitlines()[0] if message else ""


def repo_path(root: Path, path: Path) -> str:
    """Return `path` relative to the git work tree, in POSIX form."""
    repo = _repo(root)
    if repo is None:
        raise GitError(f"{root} is not inside a git repository")
    return path.resolve().relative_to(Path(repo.working_tree_dir).resolve()).as_posix()


def file_at(root: Path, ref: str, path: Path) -> str | None:
    """Return a file's text at `ref`, or None if it did not exist there."""
    repo = _repo(root)
    if repo is None:
        raise GitError(f"{root} is not inside a git repository")
    rel = repo_path(root, path)
    try:
        blob = repo.commit(ref).tree / rel
    except KeyError:
        return None
    except _unknown_ref_errors() as exc:
        raise GitError(f"git does not know {ref!r}: {exc}") from None
    data: bytes = blob.data_stream.read()
    return data.decode("utf-8", errors="replace")


SHALLOW_HINT = (
    "; this is a shallow clone, which lacks that history: fetch it all (actions/checkout with `fetch-depth: 0`, "
    "or `git fetch --unshallow`)"
)


def _shallow(repo: Any) -> str:
    """Return the hint for a shallow clone (where base refs and merge-bases are missing), or ''."""
    return SHALLOW_HINT if (Path(repo.git_dir) / "shallow").exists() else ""


def merge_base(root: Path, ref: str) -> str:
    """Return the merge-base of HEAD and `ref`."""
    import git

    repo = _repo(root)
    if repo is None:
        raise GitError(f"{root} is not inside a git repository")
    try:
        repo.commit(ref)
    except _unknown_ref_errors():
        hint = _shallow(repo) or ": pass --base with a branch or commit"
        raise GitError(f"git does not know {ref!r}{hint}") from None
    try:
        bases = repo.merge_base("HEAD", ref)
    except git.GitCommandError as exc:
        detail = exc.stderr.strip() or str(exc)
        raise GitError(f"git cannot find a merge-base with {ref!r}: {detail}{_shallow(repo)}") from None
    if not bases:
        raise GitError(f"HEAD and {ref!r} have no common ancestor{_shallow(repo)}")
    return str(bases[0].hexsha)


def default_base(root: Path) -> str:
    """Return the ref a branch is compared with by default: origin's default branch, else main or master."""
    repo = _repo(root)
    if repo is None:
        raise GitError(f"{root} is not inside a git repository")
    for candidate in ("origin/HEAD", "origin/main", "origin/master", "main", "master"):
        try:
            repo.commit(candidate)
            return candidate
        except _unknown_ref_errors():
            continue
    raise GitError(f"cannot find the default branch: pass --base REF{_shallow(repo)}")


def worktree_root(root: Path) -> Path:
    """Return the git work tree that contains `root`."""
    top = _top(root)
    if top is None:
        raise GitError(f"{root} is not inside a git repository")
    return top


def export_tree(root: Path, ref: str, dest: Path) -> None:
    """Write the project folder (`root`) as it is at `ref` into `dest` (config, prompts, datasets)."""
    repo = _repo(root)
    if repo is None:
        raise GitError(f"{root} is not inside a git repository")
    rel = root.resolve().relative_to(Path(repo.working_tree_dir).resolve()).as_posix()
    try:
        tree = repo.commit(ref).tree
        if rel not in ("", "."):
            tree = tree / rel
    except KeyError:
        return  # the project folder did not exist at that ref
    except _unknown_ref_errors() as exc:
        raise GitError(f"git does not know {ref!r}: {exc}") from None
    for item in tree.traverse():
        if item.type != "blob":
            continue
        target = dest / item.path[len(rel) + 1 :] if rel not in ("", ".") else dest / item.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if item.mode == 0o120000:  # a symlink: keep it as a link so the loader refuses links that leave the repo
            target.symlink_to(item.data_stream.read().decode("utf-8", errors="replace"))
        else:
            target.write_bytes(item.data_stream.read())


def last_commit(root: Path, paths: Sequence[Path]) -> str | None:
    """Return the newest commit reachable from HEAD that changed any of `paths`, or None (outside git, or never)."""
    repo = _repo(root)
    if repo is None or not paths:
        return None
    top = Path(repo.working_tree_dir).resolve()
    rel = [p.resolve().relative_to(top).as_posix() for p in paths if p.resolve().is_relative_to(top)]
    try:
        found = next(iter(repo.iter_commits("HEAD", paths=rel, max_count=1)), None)
    except _unknown_ref_errors():
        return None  # no commit yet
    return str(found.hexsha) if found is not None else None


def uncommitted(root: Path, folder: Path) -> list[str]:
    """Return the files under `folder` that differ from HEAD: modified, staged, deleted or untracked (not ignored)."""
    top = _top(root)
    if top is None:
        return []
    top = top.resolve()
    rel = folder.resolve().relative_to(top).as_posix() if folder.resolve().is_relative_to(top) else "."
    out = _git(top, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", rel)
    entries = [e for e in out.split("\0") if e]
    changed, skip = [], False
    for entry in entries:
        if skip:  # the source path of a rename
            skip = False
            continue
        status, path = entry[:2], entry[3:]
        skip = "R" in status or "C" in status
        changed.append(path)
    return sorted(changed)


def tracked_files(folder: Path) -> frozenset[str] | None:
    """Return the files git tracks under `folder` (POSIX paths relative to it), or None outside git."""
    try:
        listed = _git(folder, "ls-files", "-z", "--full-name", "--", ".")
        prefix = _git(folder, "rev-parse", "--show-prefix").strip()
    except _NotARepository:
        return None
    return frozenset(p[len(prefix) :] for p in listed.split("\0") if p and p.startswith(prefix))


def changed_files(root: Path, base: str) -> list[str]:
    """Return the files (relative to the work tree) that differ from `base`: committed, staged, edited or new."""
    top = _top(root)
    if top is None:
        raise GitError(f"{root} is not inside a git repository")
    try:
        changed = _git(top, "diff", "--name-only", "-z", "--no-renames", base).split("\0")
        untracked = _git(top, "ls-files", "-z", "--others", "--exclude-standard").split("\0")
    except GitError as exc:
        raise GitError(f"git cannot compare with {base!r}: {exc}") from None
    return sorted({path for path in (*changed, *untracked) if path})
