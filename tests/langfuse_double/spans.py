"""Received OTel spans, indexed by trace id, span id and parent id for assertions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Span:
    """One exported span with its attributes decoded into Python values."""

    trace_id: str  # 32 hex chars
    span_id: str  # 16 hex chars
    parent_span_id: str | None
    name: str
    kind: int
    start_time_unix_nano: int
    end_time_unix_nano: int
    attributes: dict[str, Any]
    resource_attributes: dict[str, Any] = field(default_factory=dict)
    scope_name: str = ""
    scope_version: str = ""
    scope_attributes: dict[str, Any] = field(default_factory=dict)
    status_code: int = 0
    status_message: str = ""
    events: tuple[tuple[str, dict[str, Any]], ...] = ()

    @property
    def observation_type(self) -> str | None:
        """Return `langfuse.observation.type` (span, generation, …) if set."""
        value = self.attributes.get("langfuse.observation.type")
        return str(value) if value is not None else None


class SpanIndex:
    """Spans in arrival order plus lookups. Not thread-safe: the Store serialises access."""

    def __init__(self) -> None:
        self._spans: list[Span] = []
        self._by_id: dict[str, Span] = {}

    def add(self, spans: list[Span]) -> None:
        """Index a decoded batch (a re-sent span id replaces the earlier copy in lookups)."""
        self._spans.extend(spans)
        self._by_id.update((s.span_id, s) for s in spans)

    def all(self, trace_id: str | None = None, name: str | None = None) -> list[Span]:
        """Return spans in arrival order, optionally of one trace and/or with one name."""
        return [
            s for s in self._spans if (trace_id is None or s.trace_id == trace_id) and (name is None or s.name == name)
        ]

    def by_id(self, span_id: str) -> Span | None:
        """Return the span with that id."""
        return self._by_id.get(span_id)

    def children(self, span_id: str) -> list[Span]:
        """Return the spans whose parent is `span_id`."""
        return [s for s in self._spans if s.parent_span_id == span_id]

    def trace_ids(self) -> list[str]:
        """Return the distinct trace ids in arrival order."""
        return list(dict.fromkeys(s.trace_id for s in self._spans))
