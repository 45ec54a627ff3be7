"""Building HTML safely: every shown value is masked, made showable and escaped in one place."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from promptops.evaluators.base import as_text
from promptops.runview import showable
from promptops.sensitive import redact


class Text:
    """Turns values into report text: masked like the PR comment (plain), then escaped for HTML (calling it)."""

    def __init__(self, redact_patterns: Sequence[str] = ()) -> None:
        self.patterns = tuple(redact_patterns)

    def plain(self, value: Any) -> str:
        """Return a value as masked, showable text, not yet escaped (for diffs, which escape their pieces)."""
        if value is None:
            return ""
        # Item inputs may be read-only mappings, which as_text's json would otherwise print as their repr.
        return showable(redact(as_text(dict(value) if isinstance(value, Mapping) else value), self.patterns))

    def __call__(self, value: Any) -> str:
        """Return a value as masked, escaped HTML text."""
        return html.escape(self.plain(value), quote=True)


VOID = frozenset({"br", "hr", "img", "input", "meta", "wbr"})  # HTML elements that have no end tag


def el(name: str, content: str | Iterable[str] = "", /, **attrs: str | bool | None) -> str:
    """Return an element; `content` is HTML already; attribute values are escaped (class_ is written class).

    An attribute that is True is written bare, one that is False or None is left out.
    """
    if name in VOID:
        return f"<{name}{attributes(attrs)}>"
    body = content if isinstance(content, str) else "".join(content)
    return f"<{name}{attributes(attrs)}>{body}</{name}>"


def attributes(attrs: Mapping[str, str | bool | None]) -> str:
    """Return ` key="value"` pairs, escaped; `class_` and `data_x` become `class` and `data-x`."""
    parts = []
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        name = key.rstrip("_").replace("_", "-")
        parts.append(f" {name}" if value is True else f' {name}="{html.escape(value, quote=True)}"')
    return "".join(parts)


def slug(name: str) -> str:
    """Return an id-safe form of a prompt name (folders become dashes)."""
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-") or "prompt"
