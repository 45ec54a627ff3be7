"""Stored text that every official Langfuse SDK compiles alike, not only the Python one promptops runs.

The Python SDK's `compile()` substitutes `{{name}}` and leaves anything else as text (REFERENCE §3.2). The
JS/TS SDK renders the same text with Mustache (escaping switched off): every `{{` opens a Mustache tag, so a
`{{` that is not a closed `{{name}}` either throws ("Unclosed tag") on every call or means something else
(`{{#x}}` a section, `{{!x}}` a comment, `{{{x}}}` a raw value). Neither SDK has an escape for a literal `{{`.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

_PLACEHOLDER = re.compile(r"\{\{([A-Za-z][A-Za-z0-9_]*)\}\}")
_CONTEXT_CHARS = 30


@dataclass(frozen=True)
class Unportable:
    """Where stored text compiles differently in the JS/TS SDK, and what to do about it."""

    offset: int  # of the offending `{{` in the text
    message: str


def js_difference(text: str, variables: Collection[str]) -> Unportable | None:
    """Return the first `{{` that is not a `{{name}}` of a declared variable, as Mustache would meet it."""
    at = text.find("{{")
    while at != -1:
        placeholder = _PLACEHOLDER.match(text, at)
        if placeholder is None or placeholder.group(1) not in variables:
            return Unportable(at, _message(text, at))
        at = text.find("{{", placeholder.end())
    return None


def _message(text: str, at: int) -> str:
    shown = text[max(0, at - _CONTEXT_CHARS) : at + 2 + _CONTEXT_CHARS]
    shown = ("…" if at > _CONTEXT_CHARS else "") + " ".join(shown.split()) + ("…" if at + 32 < len(text) else "")
    closed = text.find("}}", at + 2) != -1
    js = (
        "the Langfuse JS/TS SDK's compile() reads it as a Mustache tag"
        if closed
        else 'the Langfuse JS/TS SDK\'s compile() (Mustache) throws "Unclosed tag" on every call'
    )
    return (
        f"the stored text has a '{{{{' that opens no variable ({shown!r}): {js}, while the Python SDK keeps it "
        "as text. Neither SDK can escape it: write the braces apart ('{ {') or in words"
    )
