"""An item's trace recorded on the event loop as compact events, for the tracing worker to replay.

What the loop does per observation is cheap: an id, a timestamp, and the redaction today's SDK mask would
have applied (it must happen here: nothing unredacted leaves the process). Ids are made here so the runner
has the trace id at once; the worker gives the SDK the same ids and timestamps (tracing/langfuse_replay.py).

An item's record: (trace_id, root_id, ItemParts, start_ns, end_ns, events), events in the order they
happened, each a tuple:
  ("open", span_id, parent_id, name, as_type, fields, start_ns, prompt_spec)
  ("update", span_id, fields)
  ("error", span_id, status_message, (exception module, qualname, name, redacted message) or None)
  ("close", span_id, end_ns)
  ("score", name, value, data_type, comment, ns)
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from promptops.sensitive import redact_value_with, redactor
from promptops.tracing.base import GENERATION, Observation, Subject
from promptops.tracing.langfuse_sdk import ItemParts, finish_fields, generation_fields, prompt_spec, update_fields
from promptops.usercode import describe

if TYPE_CHECKING:
    from promptops.evaluators.base import DataType
    from promptops.results import ItemResult
    from promptops.tracing.langfuse import LangfuseTracer
    from promptops.tracing.langfuse_worker import TracingWorker

logger = logging.getLogger("promptops.tracing")
# The open observation of the running item (each item runs in an asyncio task of its own, so its own context).
_current: ContextVar[str | None] = ContextVar("promptops_langfuse_observation", default=None)


def _new_id(bits: int) -> str:
    """Return a random nonzero id as OpenTelemetry's own RandomIdGenerator makes it (no system call per id)."""
    while not (value := random.getrandbits(bits)):
        pass
    return f"{value:0{bits // 4}x}"


class ItemMask:
    """The client's mask as the SDK applies it (None untouched, a failing mask replaces the value), for one item.

    A mask from make_mask reads the environment's secret values on every call; for one item they are read
    once, which is most of what masking costs on the loop.
    """

    def __init__(self, client_mask: Callable[..., Any] | None) -> None:
        self._client_mask = client_mask
        patterns = getattr(client_mask, "redact_patterns", None)
        self._redact_text = redactor(patterns) if patterns is not None else None

    def __call__(self, value: Any, field: str) -> Any:
        if value is None or self._client_mask is None:
            return value
        try:
            if self._redact_text is not None:
                return redact_value_with(value, self._redact_text)
            return self._client_mask(data=value)
        except Exception as exc:  # the SDK's own fallback, so a broken mask never leaks the raw value
            from langfuse._client.constants import MASK_FALLBACK_VALUE

            logger.error("Masking error: the mask function raised %s; using fallback masking", type(exc).__name__)
            if field == "metadata" and isinstance(value, dict) and value:
                return {key: MASK_FALLBACK_VALUE for key in value}
            return MASK_FALLBACK_VALUE

    def fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Mask the output and metadata of SDK `update(...)` arguments."""
        for field in ("output", "metadata"):
            if fields.get(field) is not None:
                fields[field] = self(fields[field], field)
        return fields


class _RecordedObservation:
    """An open observation whose updates are recorded, masked as the SDK would mask them."""

    def __init__(self, span_id: str, events: list[tuple[Any, ...]], mask: ItemMask) -> None:
        self._id, self._events, self._mask = span_id, events, mask

    @property
    def id(self) -> str | None:
        """Return the observation id (16 hex) the worker will give the span."""
        return self._id

    def update(
        self,
        *,
        output: Any = None,
        usage: Mapping[str, int] | None = None,
        metadata: Mapping[str, Any] | None = None,
        cost: Mapping[str, float] | None = None,
    ) -> None:
        """Record the output, usage and cost details or metadata."""
        fields = self._mask.fields(update_fields(output, usage, metadata, cost))
        self._events.append(("update", self._id, fields))


class _RecordedItemTrace:
    """One item's trace as events; the worker replays them through the SDK."""

    def __init__(self, tracer: LangfuseTracer, mask: ItemMask, trace_id: str, root_id: str) -> None:
        self.tracer, self.mask, self._trace_id, self.root_id = tracer, mask, trace_id, root_id
        self.events: list[tuple[Any, ...]] = []

    @property
    def trace_id(self) -> str | None:
        """Return the trace id (32 hex), made here and given to the SDK by the worker."""
        return self._trace_id

    @contextmanager
    def _observe(
        self, name: str, as_type: str, fields: dict[str, Any], prompt: tuple[Any, ...] | None = None
    ) -> Iterator[Observation]:
        span_id, events = _new_id(64), self.events
        events.append(("open", span_id, _current.get() or self.root_id, name, as_type, fields, time.time_ns(), prompt))
        token = _current.set(span_id)
        try:
            yield _RecordedObservation(span_id, events, self.mask)
        except BaseException as exc:  # recorded, then re-raised: a timeout cancels mid-span
            events.append(self.error(span_id, exc))
            raise
        finally:
            _current.reset(token)
            events.append(("close", span_id, time.time_ns()))

    def error(self, span_id: str, exc: BaseException) -> tuple[Any, ...]:
        """Return the event marking an observation ERROR; OpenTelemetry also records an `Exception` it sees pass."""
        kind = type(exc)
        message = self.tracer.redact(str(exc))
        raised = (kind.__module__, kind.__qualname__, kind.__name__, message) if isinstance(exc, Exception) else None
        return ("error", span_id, self.tracer.redact(describe(exc)), raised)

    def span(self, name: str, *, input: Any = None, kind: str = "span") -> AbstractContextManager[Observation]:
        """Open a child span (kind is the Langfuse observation type: span, retriever, tool, ...)."""
        return self._observe(name, kind, {"input": self.mask(input, "input")})

    def generation(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, str]],
        parameters: Mapping[str, Any],
        prompt: Subject | None,
        name: str = GENERATION,
    ) -> AbstractContextManager[Observation]:
        """Open a generation linked to the exact prompt version (`langfuse.observation.prompt.*`)."""
        fields = generation_fields(model, messages, parameters)
        fields["input"] = self.mask(fields["input"], "input")
        return self._observe(name, "generation", fields, prompt_spec(prompt) if prompt is not None else None)

    def score(self, name: str, value: float | str | bool, data_type: DataType, comment: str | None = None) -> None:
        """Score the item's root observation, as run_experiment scores its task span."""
        comment = self.tracer.redact(comment) if comment is not None else None
        self.events.append(("score", name, value, data_type, comment, time.time_ns()))

    def finish(self, result: ItemResult) -> None:
        """Put the item's outcome on the root span; a failure marks it ERROR with the reason."""
        self.events.append(("update", self.root_id, self.mask.fields(finish_fields(result, self.tracer.redact))))


@contextmanager
def offloaded_item(
    tracer: LangfuseTracer, worker: TracingWorker, parts: ItemParts, mask: ItemMask
) -> Iterator[_RecordedItemTrace]:
    """Record the item's trace; on leaving, hand the record to the worker (also when the item raised)."""
    started = time.time_ns()
    trace = _RecordedItemTrace(tracer, mask, _new_id(128), _new_id(64))
    token = _current.set(trace.root_id)
    try:
        yield trace
    except BaseException as exc:
        trace.events.append(trace.error(trace.root_id, exc))
        raise
    finally:
        _current.reset(token)
        worker.send_item((trace.trace_id, trace.root_id, parts, started, time.time_ns(), trace.events))
