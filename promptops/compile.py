"""Compile stored prompts the way applications do at run time: with the langfuse SDK's own `compile()`."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

# Imported with this module, not per call: compiling runs once per experiment item, and the SDK's lazy
# module loader would otherwise cost time inside every measured item (and a cold first item).
from langfuse.api import Prompt_Chat, Prompt_Text
from langfuse.model import ChatPromptClient, TextPromptClient

from promptops.model import RenderedPrompt


def compile_with_sdk(rendered: RenderedPrompt, values: Mapping[str, Any]) -> str | list[dict[str, Any]]:
    """Return what `langfuse.get_prompt(...).compile(**values)` gives for this rendered prompt."""
    common: dict[str, Any] = {
        "name": rendered.name,
        "version": 1,
        "config": dict(rendered.config),
        "labels": [],
        "tags": [],
    }
    if isinstance(rendered.prompt, str):
        with _sdk_quiet():
            return TextPromptClient(Prompt_Text(type="text", prompt=rendered.prompt, **common)).compile(**values)
    messages: list[Any] = [
        {"type": "placeholder", "name": m["name"]}
        if m.get("type") == "placeholder"
        else {"type": "chatmessage", "role": m["role"], "content": m["content"]}
        for m in rendered.prompt
    ]
    with _sdk_quiet():
        compiled = ChatPromptClient(Prompt_Chat(type="chat", prompt=messages, **common)).compile(**values)
    return [dict(m) for m in compiled]


def _drop(record: logging.LogRecord) -> bool:
    return False


@contextmanager
def _sdk_quiet() -> Iterator[None]:
    """Keep the SDK's own compile() warnings (unresolved placeholders) off stderr: promptops says it in its words."""
    logger = logging.getLogger("langfuse")
    logger.addFilter(_drop)
    try:
        yield
    finally:
        logger.removeFilter(_drop)
