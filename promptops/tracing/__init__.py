"""Recording experiment runs: the Tracer protocol and its implementations, chosen by the caller.

`NullTracer` records nothing, `LocalTracer` writes SQLite, `LangfuseTracer` (promptops.tracing.langfuse)
sends traces through the langfuse SDK; that one is imported only when asked for, since the SDK is heavy.
"""

from __future__ import annotations

from typing import Any

from promptops.tracing.base import ItemTrace, NullTracer, Observation, RunInfo, Subject, Tracer
from promptops.tracing.local import LocalTracer

__all__ = [
    "ItemTrace", "LangfuseTracer", "LocalTracer", "NullTracer", "Observation", "RunInfo", "Subject", "Tracer",
    "make_mask",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    """Import the Langfuse tracer on first use only."""
    if name in ("LangfuseTracer", "make_mask"):
        from promptops.tracing import langfuse

        return getattr(langfuse, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
