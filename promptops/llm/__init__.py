"""Model providers, chosen by name; only the chosen provider's module is imported."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from promptops.errors import ModelError
from promptops.llm.base import Completion, LLMRequest, Provider, text_request

__all__ = ["Completion", "LLMRequest", "Provider", "get_provider", "known_models", "provider_name", "text_request"]

_MOCK = "promptops.llm.mock:MockLLM"
_OPENAI = "promptops.llm.openai_compat:OpenAICompatProvider"

# Exact names first, then prefixes in order; the value names the class so nothing is imported until chosen
# (the openai package is heavy and optional, and `promptops --help` must stay fast).
_EXACT: Mapping[str, str] = {"mock-llm-v1": _MOCK}
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("openai:", _OPENAI),
    ("gpt-", _OPENAI),
    ("o1", _OPENAI),
    ("o3", _OPENAI),
    ("o4", _OPENAI),
)


def known_models() -> tuple[str, ...]:
    """Return the model names and name patterns get_provider accepts."""
    return (*_EXACT, "openai:<model>", *(f"{prefix}*" for prefix, _ in _PREFIXES[1:]))


def provider_name(model: str) -> str | None:
    """Return the provider a model name maps to (`mock-llm-v1`, `openai`) without importing it; None if unknown."""
    target = _EXACT.get(model) or next((t for prefix, t in _PREFIXES if model.startswith(prefix)), None)
    return None if target is None else {_MOCK: "mock-llm-v1", _OPENAI: "openai"}[target]


def get_provider(model: str, options: Mapping[str, Any] | None = None) -> Provider:
    """Return the provider for a model name, configured with the experiment's model options."""
    target = _EXACT.get(model) or next((t for prefix, t in _PREFIXES if model.startswith(prefix)), None)
    if target is None:
        raise ModelError(f"unknown model {model!r}; known models: {', '.join(known_models())}")
    module_name, _, class_name = target.partition(":")
    provider_class = getattr(importlib.import_module(module_name), class_name)
    provider: Provider = provider_class(model, dict(options or {}))
    return provider
