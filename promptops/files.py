"""Read repository files defensively: prompt files come from pull requests and may be hostile.

What a pull request may show promptops is the prompts folder, so only **regular files whose real path stays
under the prompts folder** are read: a committed link to `../.git/config` (where actions/checkout keeps the
token), to an ignored `.env`, or to anything outside is a diagnostic. Inside it, no path component may start with
a dot (`.git/`, `.env`, `.github/`), and when the prompts folder is the project root itself (`prompts_dir: "."`)
only files git tracks are read, since the root also holds what CI wrote. FIFOs, sockets and devices are
diagnostics too, never opened for a blocking read; names with control or bidirectional characters are refused.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from promptops import printable
from promptops.errors import ConfigError
from promptops.model import Diagnostic, ReadScope

MAX_PROMPT_BYTES = 1024 * 1024
MAX_DATASET_BYTES = 64 * 1024 * 1024
_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFDIR: "a folder",
}


@dataclass(frozen=True)
class TextFile:
    """A file's text, or the diagnostic that says why it could not be read."""

    path: str  # relative to the project root
    text: str | None
    problem: Diagnostic | None


def relative(path: Path, root: Path) -> str:
    """Return `path` relative to `root` in POSIX form (or as given when it is outside)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def read_scope(prompts_root: Path, project_root: Path) -> ReadScope:
    """Return what may be read under `prompts_root`: with the project root as prompts folder, git's files only."""
    real, project = prompts_root.resolve(), project_root.resolve()
    if not real.is_relative_to(project) or any(p.startswith(".") for p in real.relative_to(project).parts):
        raise ConfigError(
            f"the prompts folder {relative(prompts_root, project_root)} is a link to {real}: it must stay inside "
            "the project and out of dot-folders (a pull request can commit the link)"
        )
    tracked = None
    if real == project:
        from promptops.gitinfo import tracked_files

        tracked = tracked_files(real)
    return ReadScope(real, tracked)


def refusal(real: Path, scope: ReadScope) -> tuple[str, str] | None:
    """Return (code, message) when the resolved path `real` is outside what `scope` lets promptops read."""
    if not real.is_relative_to(scope.prompts_root):
        return (
            "symlink-escape",
            "this file is a link to a place outside the prompts folder; replace it with a real file",
        )
    parts = real.relative_to(scope.prompts_root).parts
    if any(part.startswith(".") for part in parts):
        return "hidden-path", "promptops never reads dot-files or dot-folders (.git, .env, ...): rename it"
    if scope.tracked is not None and "/".join(parts) not in scope.tracked:
        return (
            "untracked-file",
            "not read: the prompts folder is the project root, where promptops reads only files git tracks "
            "(`git add` it)",
        )
    return None


def read_text(path: Path, root: Path, *, scope: ReadScope | None = None, max_bytes: int = MAX_PROMPT_BYTES) -> TextFile:
    """Read a UTF-8 text file within `scope`, refusing links that leave it, non-regular, binary, huge and empty files.

    Without a scope the file may be anywhere in the project (the project root is the boundary).
    """
    rel = relative(path, root)
    bad = printable.unsafe_char(rel)
    if bad is not None:
        rel = printable.escaped(rel)
        message = f"the file name contains {printable.describe(bad)}: rename the file (it would not print safely)"
        return TextFile(rel, None, Diagnostic(rel, None, None, "invalid-path", "error", message))

    def fail(code: str, message: str, line: int | None = None, col: int | None = None) -> TextFile:
        return TextFile(rel, None, Diagnostic(rel, line, col, code, "error", message))

    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError, ValueError):  # a dangling link or a link loop (RuntimeError before Python 3.13)
        return fail("unreadable", "cannot read the file: it is a broken or looping link")
    refused = refusal(resolved, scope or ReadScope(root.resolve()))
    if refused is not None:
        return fail(*refused)
    data, problem = _read_regular(resolved, max_bytes)
    if data is None:
        return fail(*problem)
    text, undecodable = _decoded(data)
    return TextFile(rel, text, None) if text is not None else fail(*undecodable)


def regular_bytes(path: Path, max_bytes: int = MAX_DATASET_BYTES) -> bytes | None:
    """Return the bytes of the regular file `path` (links followed) of at most `max_bytes`, else None; never blocks."""
    try:
        # Only a link needs resolving (open follows links in the folders above); one lstat is far cheaper than
        # resolve()'s walk, and the caches read every file of the prompts folder on every command.
        real = path.resolve(strict=True) if stat.S_ISLNK(os.lstat(path).st_mode) else path
    except (OSError, RuntimeError, ValueError):
        return None
    return _read_regular(real, max_bytes)[0]


def _read_regular(path: Path, max_bytes: int) -> tuple[bytes | None, tuple[str, str]]:
    """Read a regular file of at most `max_bytes`, deciding on the open descriptor (no race, never blocks)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None, ("unreadable", "cannot read the file: it was replaced by a link while being read")
        return None, ("unreadable", f"cannot read the file: {exc.strerror or exc}")
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
            return None, ("not-a-file", f"this is {kind}, not a regular file: promptops reads only regular files")
        if info.st_size > max_bytes:
            return None, (
                "file-too-large",
                f"file is {info.st_size:,} bytes; the limit is {max_bytes:,} bytes: split it or move data to a dataset",
            )
        try:
            # As much as fstat says (a buffer of max_bytes per read costs more than the read), then the rest of
            # what the file grew by since, up to one byte past the limit.
            data = handle.read(info.st_size + 1)
            if len(data) > info.st_size:
                data += handle.read(max_bytes + 1 - len(data))
        except OSError as exc:
            return None, ("unreadable", f"cannot read the file: {exc.strerror or exc}")
    if len(data) > max_bytes:  # it grew after fstat
        return None, ("file-too-large", f"file is larger than the limit of {max_bytes:,} bytes")
    return data, ("", "")


def _decoded(data: bytes) -> tuple[str | None, tuple[str, str, int | None, int | None]]:
    """Return the text, or the problem of bytes that are not UTF-8 text (NUL bytes, bad encoding, whitespace)."""
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        return None, (
            "binary-file",
            "file contains NUL bytes (binary?): prompt and dataset files must be UTF-8 text",
            line,
            None,
        )
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, ("encoding", f"byte 0x{data[exc.start]:02x} is not valid UTF-8: save the file as UTF-8", line, col)
    if not text.strip():
        return None, ("empty-file", "file is empty: add content or delete it", 1, 1)
    return text, ("", "", None, None)
