"""The provider protocol: one request in, one completion out, failures as ModelError."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from promptops.errors import ModelError


class ProviderUnavailable(ModelError):
    """The provider cannot be used here: its package or its credentials are missing (recordings may still answer)."""


@dataclass(frozen=True)
class LLMRequest:
    """One model call: chat messages (a text prompt is one user message) and sampling controls."""

    messages: tuple[Mapping[str, str], ...]  # each {"role": ..., "content": ...}
    model: str
    temperature: float = 0.0
    seed: int = 0
    max_tokens: int | None = None
    attempt: int = 0  # retry number, so a simulated transient failure can succeed on retry
    options: Mapping[str, Any] = field(default_factory=dict)  # provider-specific


@dataclass(frozen=True)
class Completion:
    """What a model answered, with its token usage and latency."""

    text: str
    model: str
    input_tokens: int
    output_tokens: int
    latency_s: float
    replayed: bool = False  # answered from a recording, not by the model
    input_cost_usd: float | None = None  # set by the runner: 0 when replayed, None when the price is unknown
    output_cost_usd: float | None = None


class Provider(Protocol):
    """A model backend chosen by name; `complete` raises ModelError(retriable=...) on failure."""

    name: str

    async def complete(self, request: LLMRequest) -> Completion:
        """Return the model's completion for one request."""
        ...


def text_request(prompt: str, model: str, **controls: Any) -> LLMRequest:
    """Return a request for a text prompt: the prompt becomes one user message."""
    return LLMRequest(messages=({"role": "user", "content": prompt},), model=model, **controls)
