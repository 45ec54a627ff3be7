"""Characters a name must not carry: a terminal, a CI log or Langfuse would show them as something else.

A newline in a prompt or file name starts a new line in a CI log, where `::error ...` is a workflow command;
bidirectional controls (U+202E and friends) make text read differently from what it is; NUL and other controls
are refused or mangled by Langfuse and file systems. Names with any of them are diagnostics, never printed raw.
"""

from __future__ import annotations

import unicodedata

# Cc: controls (newline, tab, NUL, ESC, DEL, C1); Cf: format characters (bidi embeddings, overrides and isolates,
# zero-width joiners, BOM); Zl, Zp: line and paragraph separators; Cs: lone surrogates.
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def unsafe_char(text: str) -> str | None:
    """Return the first control, format (bidi) or separator character in `text`, or None."""
    if text.isprintable():  # str.isprintable is false for every unsafe category (and a few safe ones, below)
        return None
    return next((c for c in text if unicodedata.category(c) in UNSAFE_CATEGORIES), None)


def escaped(text: str) -> str:
    """Return `text` with every unsafe character written as an escape (`\\n`, `\\u202e`), safe to print."""
    return "".join(_escape(c) if unicodedata.category(c) in UNSAFE_CATEGORIES else c for c in text)


def _escape(char: str) -> str:
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def describe(char: str) -> str:
    """Return e.g. `U+202E (RIGHT-TO-LEFT OVERRIDE)` for a character."""
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")
