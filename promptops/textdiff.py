"""Show stored prompts as text, and the unified diff between two of them (rendered text and config)."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from typing import Any


def prompt_as_text(prompt: str | Sequence[Mapping[str, Any]]) -> str:
    """Return a prompt as readable text: text as is, chat messages as `[role]` blocks."""
    if isinstance(prompt, str):
        return prompt
    blocks = []
    for message in prompt:
        if message.get("type") == "placeholder":
            blocks.append(f"[placeholder: {message.get('name')}]")
        else:
            blocks.append(f"[{message.get('role')}]\n{message.get('content')}")
    return "\n\n".join(blocks)


MAX_DIFF_LINES = 5_000  # changed lines per side that difflib compares (its cost grows quadratically past that)


def unified(old: str, new: str, old_label: str, new_label: str) -> str:
    """Return a unified diff of two texts ('' when they are equal); a too-long changed part is named, not diffed."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    changed_a, changed_b = _changed_lines(a, b)
    if changed_a > MAX_DIFF_LINES or changed_b > MAX_DIFF_LINES:
        if a == b:
            return ""
        return (
            f"--- {old_label}\n+++ {new_label}\n@@ -1,{len(a)} +1,{len(b)} @@\n"
            f" ({changed_a:,} lines changed to {changed_b:,}: too many to diff here; compare the files with git)\n"
        )
    lines = difflib.unified_diff(a, b, old_label, new_label, lineterm="\n")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _changed_lines(a: list[str], b: list[str]) -> tuple[int, int]:
    """Return how many lines of each side lie between their common first and last lines."""
    prefix = 0
    while prefix < min(len(a), len(b)) and a[prefix] == b[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(a), len(b)) - prefix and a[-1 - suffix] == b[-1 - suffix]:
        suffix += 1
    return len(a) - prefix - suffix, len(b) - prefix - suffix


def config_text(config: Mapping[str, Any]) -> str:
    """Return a config as stable, readable JSON for diffing."""
    return json.dumps(dict(config), indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
