"""An item's trace sent through the tracer's own SDK client as it happens (LangChain runs, `offload=False`).

LangChain's CallbackHandler traces the chain's steps itself, in this process, under the current OTel span;
so the item's root must be a live span here, and the item pays the SDK's CPU on the event loop.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, cast

from promptops.tracing.base import GENERATION, Observation, Subject
from promptops.tracing.langfuse_sdk import (
    ItemParts,
    Redact,
    SdkItem,
    finish_fields,
    generation_fields,
    sdk_item,
    update_fields,
)
from promptops.usercode import describe

if TYPE_CHECKING:
    from langfuse._client.span import LangfuseObservationWrapper

    from promptops.evaluators.base import DataType
    from promptops.results import ItemResult
    from promptops.tracing.langfuse import LangfuseTracer


@contextmanager
def _marking_errors(observation: LangfuseObservationWrapper, redact: Redact) -> Iterator[None]:
    try:
        yield
    except BaseException as exc:  # recorded, then re-raised: a timeout cancels mid-span
        # status_message is not one of the fields the SDK's mask sees: a user's exception can quote anything.
        observation.update(level="ERROR", status_message=redact(describe(exc)))
        raise


class _LangfuseObservation:
    """An open SDK observation behind the tracing protocol."""

    def __init__(self, observation: LangfuseObservationWrapper) -> None:
        self.observation = observation

    @property
    def id(self) -> str | None:
        """Return the observation id (16 hex)."""
        return self.observation.id

    def update(
        self,
        *,
        output: Any = None,
        usage: Mapping[str, int] | None = None,
        metadata: Mapping[str, Any] | None = None,
        cost: Mapping[str, float] | None = None,
    ) -> None:
        """Send the output, usage and cost details or metadata (the client's mask applies to output and metadata)."""
        self.observation.update(**update_fields(output, usage, metadata, cost))


class _InProcessItemTrace:
    """One item's trace; every observation gets the run's experiment attributes."""

    def __init__(self, tracer: LangfuseTracer, item: SdkItem, propagated: Mapping[str, Any]) -> None:
        self.tracer, self.item, self.root, self.propagated = tracer, item, item.root, propagated

    @property
    def trace_id(self) -> str | None:
        """Return the trace id (32 hex)."""
        return self.root.trace_id

    @contextmanager
    def _observe(self, name: str, as_type: str, fields: Mapping[str, Any]) -> Iterator[Observation]:
        with self.item.observe(name, as_type, fields) as observation:
            with _marking_errors(observation, self.tracer.redact):
                yield _LangfuseObservation(observation)

    def span(self, name: str, *, input: Any = None, kind: str = "span") -> AbstractContextManager[Observation]:
        """Open a child span (kind is the Langfuse observation type: span, retriever, tool, ...)."""
        return self._observe(name, kind, {"input": input})

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
        linked = self.tracer.prompt(prompt) if prompt is not None else None
        return self._observe(name, "generation", {**generation_fields(model, messages, parameters), "prompt": linked})

    def langchain_config(self, prompt: Subject | None) -> dict[str, Any]:
        """Return a LangChain run config whose CallbackHandler traces the chain's steps into this item's trace.

        The handler starts its root span under the current one (this item's root), so the propagated
        attributes reach every chain step; `langfuse_prompt` links the chain's generations to the version.
        """
        from langfuse.langchain import CallbackHandler

        keys = [key for key in ("user_id", "session_id", "tags") if key in self.propagated]
        metadata: dict[str, Any] = {f"langfuse_{key}": self.propagated[key] for key in keys}
        linked = self.tracer.prompt(prompt) if prompt is not None else None
        if linked is not None:
            metadata["langfuse_prompt"] = linked  # inherited by child runs, so the model call is linked
        # The handler finds its client by public key; the SDK exposes the key only on its resources.
        public_key = getattr(getattr(self.tracer.client, "_resources", None), "public_key", None)
        return {"callbacks": [CallbackHandler(public_key=public_key)], "metadata": metadata}

    def score(self, name: str, value: float | str | bool, data_type: DataType, comment: str | None = None) -> None:
        """Score the item's root observation, as run_experiment scores its task span."""
        comment = self.tracer.redact(comment) if comment is not None else None
        self.root.score(name=name, value=cast(Any, value), data_type=cast(Any, data_type), comment=comment)

    def finish(self, result: ItemResult) -> None:
        """Put the item's outcome on the root span; a failure marks it ERROR with the reason."""
        self.root.update(**finish_fields(result, self.tracer.redact))


@contextmanager
def in_process_item(tracer: LangfuseTracer, parts: ItemParts) -> Iterator[_InProcessItemTrace]:
    """Open the item's trace on the tracer's client, its root marked ERROR if the item raises."""
    with sdk_item(tracer.client, parts) as item:
        with _marking_errors(item.root, tracer.redact):
            yield _InProcessItemTrace(tracer, item, parts.propagated)
