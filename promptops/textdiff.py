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


def unified(old: str, new: str, old_label: str, new_label: str) -> str:
    """Return a unified diff of two texts ('' when they are equal)."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), old_label, new_label, lineterm="\n"
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def config_text(config: Mapping[str, Any]) -> str:
    """Return a config as stable, readable JSON for diffing."""
    return json.dumps(dict(config), indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
