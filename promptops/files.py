"""Read repository files defensively: prompt files come from pull requests and may be hostile."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from promptops.model import Diagnostic

MAX_PROMPT_BYTES = 1024 * 1024
MAX_DATASET_BYTES = 64 * 1024 * 1024


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


def read_text(path: Path, root: Path, *, max_bytes: int = MAX_PROMPT_BYTES) -> TextFile:
    """Read a UTF-8 text file inside `root`, refusing links that leave it, binaries, huge and empty files."""
    rel = relative(path, root)

    def fail(code: str, message: str, line: int | None = None, col: int | None = None) -> TextFile:
        return TextFile(rel, None, Diagnostic(rel, line, col, code, "error", message))

    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):  # a dangling link or a link loop (RuntimeError before Python 3.13)
        return fail("unreadable", "cannot read the file: it is a broken or looping link")
    if not resolved.is_relative_to(root.resolve()):
        return fail(
            "symlink-escape", "this file is a link to a place outside the repository; replace it with a real file"
        )
    try:
        size = resolved.stat().st_size
        if size > max_bytes:
            return fail(
                "file-too-large",
                f"file is {size:,} bytes; the limit is {max_bytes:,} bytes: split it or move data to a dataset",
            )
        data = resolved.read_bytes()
    except OSError as exc:
        return fail("unreadable", f"cannot read the file: {exc.strerror or exc}")
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        return fail(
            "binary-file", "file contains NUL bytes (binary?): prompt and dataset files must be UTF-8 text", line
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return fail("encoding", f"byte 0x{data[exc.start]:02x} is not valid UTF-8: save the file as UTF-8", line, col)
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        return fail("empty-file", "file is empty: add content or delete it", 1, 1)
    return TextFile(rel, text, None)
