"""Conversions between the langfuse SDK's models and promptops' registry dataclasses (no I/O)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from promptops.model import DatasetItem, RenderedPrompt
from promptops.registry.base import PROVENANCE_KEY, PromptState, PromptVersion, Provenance, RemoteItem


def create_request(rendered: RenderedPrompt, provenance: Provenance, labels: Sequence[str], commit_message: str) -> Any:
    """Build the SDK's create request exactly as create_prompt() would, plus our provenance in the config."""
    from langfuse.api import CreateChatPromptRequest, CreateChatPromptType, CreateTextPromptRequest

    common: dict[str, Any] = {
        "name": rendered.name,
        "labels": list(labels),
        "tags": list(rendered.tags),
        "config": {**rendered.config, PROVENANCE_KEY: provenance.to_config()},
        "commit_message": commit_message,
    }
    if isinstance(rendered.prompt, str):
        return CreateTextPromptRequest(prompt=rendered.prompt, **common)
    messages: Any = rendered.as_langfuse_prompt()  # plain dicts; pydantic makes them ChatMessage/PlaceholderMessage
    return CreateChatPromptRequest(prompt=messages, type=CreateChatPromptType.CHAT, **common)


def to_version(prompt: Any) -> PromptVersion:
    """Convert an SDK Prompt model (GET, POST or PATCH answer) to a PromptVersion."""
    extra = getattr(prompt, "model_extra", None) or {}
    content: str | tuple[dict[str, str], ...]
    if prompt.type == "chat":
        content = tuple(to_message(m) for m in prompt.prompt)
    else:
        content = prompt.prompt
    return PromptVersion(
        name=prompt.name,
        version=prompt.version,
        type=prompt.type,
        prompt=content,
        config=prompt.config if isinstance(prompt.config, dict) else {},
        labels=tuple(prompt.labels),
        tags=tuple(prompt.tags),
        commit_message=prompt.commit_message,
        created_at=extra.get("createdAt"),
        created_by=extra.get("createdBy"),
    )


def to_message(message: Any) -> dict[str, str]:
    """Return a chat message in the shape promptops renders: {role, content} or {type: placeholder, name}."""
    if getattr(message, "role", None) is not None:
        return {"role": message.role, "content": message.content}
    return {"type": "placeholder", "name": message.name}


def to_state(every: Any, production: Any | None) -> PromptState:
    """Build a PromptState from the unfiltered and the label=production PromptMeta of one name."""
    return PromptState(
        name=every.name,
        type=str(getattr(every.type, "value", every.type)),
        versions=tuple(sorted(every.versions)),
        labels=tuple(sorted(every.labels)),
        latest_config=every.last_config if isinstance(every.last_config, dict) else {},
        production_version=max(production.versions) if production else None,
        production_labels=tuple(sorted(production.labels)) if production else (),
        production_config=production.last_config if production and isinstance(production.last_config, dict) else None,
    )


def to_remote_item(item: Any) -> RemoteItem:
    """Convert an SDK DatasetItem to a RemoteItem."""
    status = str(getattr(item.status, "value", item.status))
    return RemoteItem(item.id, item.input, item.expected_output, item.metadata, status)


def canonical(value: Any) -> str:
    """Return JSON with sorted keys, so equal values compare equal as text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def same_item(item: DatasetItem, remote: RemoteItem | None) -> bool:
    """Tell whether the registry already holds the item as git has it (then it is not rewritten)."""
    if remote is None:
        return False
    pairs: Iterable[tuple[Any, Any]] = (
        (dict(item.input), remote.input),
        (item.expected_output, remote.expected_output),
        (dict(item.metadata), remote.metadata),
    )
    return all(canonical(ours) == canonical(theirs) for ours, theirs in pairs)
