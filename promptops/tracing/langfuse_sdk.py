"""One item's trace through the langfuse SDK in this process, from values already prepared by the tracer.

Two callers run exactly these SDK calls: LangfuseTracer itself for LangChain runs (their CallbackHandler must
nest under a live root span), and the tracing worker (tracing/langfuse_replay.py), which replays every other
item here from the compact records the event loop sent it. Keeping one path is what keeps the two identical.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from langfuse import Langfuse, propagate_attributes
from langfuse.api import Prompt_Chat, Prompt_Text
from langfuse.model import ChatPromptClient, PromptClient, TextPromptClient
from opentelemetry import trace as otel_trace

from promptops.tracing.base import ROOT_SPAN, Subject

if TYPE_CHECKING:
    from langfuse._client.span import LangfuseObservationWrapper

    from promptops.results import ItemResult

EXPERIMENT = "langfuse.experiment."
ROOT_OBSERVATION = EXPERIMENT + "item.root_observation_id"
Redact = Callable[[Any], Any]
# A prompt version as plain values (picklable, unlike the SDK's client): name, version, prompt, config, labels, tags.
PromptSpec = tuple[str, int, "str | list[dict[str, str]]", dict[str, Any], list[str], list[str]]


@dataclass(frozen=True)
class ItemParts:
    """What an item's trace carries before any span opens, redacted: run and item attributes, its input."""

    attributes: dict[str, str]  # langfuse.experiment.* on every span
    propagated: dict[str, Any]  # propagate_attributes(**propagated): user, session, tags, metadata, version
    input: Any  # the root span's input
    expected: str | None  # langfuse.experiment.item.expected_output, on the root only


def serialize(value: Any) -> str | None:
    """Encode an attribute value as the SDK does: strings as they are, anything else as JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def prompt_spec(subject: Subject) -> PromptSpec | None:
    """Return the subject's registry version as plain values (None without a version: nothing to link)."""
    if subject.version is None:
        return None
    rendered = subject.rendered
    prompt = rendered.prompt if isinstance(rendered.prompt, str) else [dict(m) for m in rendered.prompt]
    return rendered.name, subject.version, prompt, dict(rendered.config), list(rendered.labels), list(rendered.tags)


def prompt_client(spec: PromptSpec) -> PromptClient:
    """Return the SDK prompt client a generation links to (`langfuse.observation.prompt.*`)."""
    name, version, prompt, config, labels, tags = spec
    common: dict[str, Any] = {"name": name, "version": version, "config": config, "labels": labels, "tags": tags}
    if isinstance(prompt, str):
        return TextPromptClient(Prompt_Text(type="text", prompt=prompt, **common))
    messages: list[Any] = [
        {"type": "placeholder", "name": m["name"]}
        if m.get("type") == "placeholder"
        else {"type": "chatmessage", "role": m["role"], "content": m["content"]}
        for m in prompt
    ]
    return ChatPromptClient(Prompt_Chat(type="chat", prompt=messages, **common))


def update_fields(
    output: Any, usage: Mapping[str, int] | None, metadata: Mapping[str, Any] | None, cost: Mapping[str, float] | None
) -> dict[str, Any]:
    """Return the SDK `update(...)` arguments for an observation's output, usage, metadata and cost."""
    return {
        "output": output, "usage_details": dict(usage) if usage is not None else None,
        "metadata": dict(metadata) if metadata is not None else None,
        "cost_details": dict(cost) if cost is not None else None,
    }  # fmt: skip


def generation_fields(
    model: str, messages: Sequence[Mapping[str, str]], parameters: Mapping[str, Any]
) -> dict[str, Any]:
    """Return the SDK arguments of a generation, except its prompt link."""
    parameters = {k: v for k, v in parameters.items() if v is not None}
    return {"input": [dict(m) for m in messages], "model": model, "model_parameters": parameters}


def finish_fields(result: ItemResult, redact: Redact) -> dict[str, Any]:
    """Return the root's `update(...)` for the item's outcome; a failure is level ERROR with the redacted reason."""
    usage = {"input": result.input_tokens, "output": result.output_tokens}
    metadata = {"item_id": result.item_id, "repeat": result.repeat, "latency_s": result.latency_s, "tokens": usage}
    if result.failed:
        reason = redact(result.error)  # the SDK's mask covers output and metadata, not status_message
        return {"output": f"Error: {reason}", "level": "ERROR", "status_message": reason, "metadata": metadata}
    return {"output": result.output, "metadata": metadata}


def _set_on_current_span(attributes: Mapping[str, str]) -> None:
    otel_trace.get_current_span().set_attributes(attributes)


class SdkItem:
    """An item's open root observation; `observe` opens its children with the run's experiment attributes."""

    def __init__(self, client: Langfuse, root: LangfuseObservationWrapper, attributes: dict[str, str]) -> None:
        self.client, self.root, self.attributes = client, root, attributes

    @contextmanager
    def observe(self, name: str, as_type: str, fields: Mapping[str, Any]) -> Iterator[LangfuseObservationWrapper]:
        """Open a child observation of the current one as the current one."""
        start = self.client.start_as_current_observation
        with start(name=name, as_type=cast(Any, as_type), **fields) as observation:
            _set_on_current_span(self.attributes)
            yield observation


@contextmanager
def sdk_item(client: Langfuse, parts: ItemParts) -> Iterator[SdkItem]:
    """Open the item's trace: propagated attributes, then the root span with the item's input."""
    with propagate_attributes(**parts.propagated):
        with client.start_as_current_observation(name=ROOT_SPAN, input=parts.input) as root:
            attributes = {**parts.attributes, ROOT_OBSERVATION: root.id}
            root_only = {EXPERIMENT + "item.expected_output": parts.expected} if parts.expected is not None else {}
            _set_on_current_span({**attributes, **root_only})
            yield SdkItem(client, root, attributes)
