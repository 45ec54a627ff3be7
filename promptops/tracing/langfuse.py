"""LangfuseTracer: each item becomes one Langfuse trace through the SDK, grouped as one experiment run.

Per item: a root span `experiment-item` inside `propagate_attributes` (user and session from the item's
metadata, tags, run metadata, version, environment), child spans from the task (`retrieve` -> `rank` ->
`prompt-managed-call`, the last a generation linked to the prompt version), and the evaluators' scores
on the root observation. SDK 5 has no public way to mark spans as an experiment run (`run_experiment`
uses the private `_propagate_attributes(experiment=...)`), so we write the same `langfuse.experiment.*`
attributes on every span through OpenTelemetry's public `get_current_span().set_attribute`, with the
environment `sdk-experiment` that `run_experiment` uses (REFERENCE §4.3).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, cast

from langfuse import Langfuse, propagate_attributes
from langfuse.api import Prompt_Chat, Prompt_Text
from langfuse.model import ChatPromptClient, PromptClient, TextPromptClient
from opentelemetry import trace as otel_trace

from promptops.model import DatasetItem, TracingConfig
from promptops.sensitive import redact
from promptops.tracing.base import (
    DATASET_LINK,
    GENERATION,
    ROOT_SPAN,
    UNLINKED,
    ItemTrace,
    Observation,
    RunInfo,
    Subject,
)
from promptops.usercode import describe

if TYPE_CHECKING:
    from langfuse._client.span import LangfuseObservationWrapper

    from promptops.evaluators.base import DataType
    from promptops.results import ExperimentResult, ItemResult

EXPERIMENT_ENVIRONMENT = "sdk-experiment"  # what the SDK's run_experiment writes (LANGFUSE_SDK_EXPERIMENT_ENVIRONMENT)
EXPERIMENT = "langfuse.experiment."
Mask = Callable[..., Any]


def _local_item_id(item: DatasetItem) -> str:
    """Return the id the SDK gives an item that is not a dataset item: sha256 of its input, 16 hex (§4.3)."""
    import hashlib

    text = json.dumps(dict(item.input), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _redact_value(value: Any, patterns: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return redact(value, patterns)
    if isinstance(value, Mapping):
        return {key: _redact_value(item, patterns) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(item, patterns) for item in value]
    return value


def make_mask(redact_patterns: Sequence[str] = ()) -> Mask:
    """Return a `Langfuse(mask=...)` function redacting every string in dicts and lists (promptops.sensitive)."""
    patterns = tuple(redact_patterns)

    def mask(*, data: Any, **_: Any) -> Any:
        return _redact_value(data, patterns)

    return mask


def client_options(tracing: TracingConfig) -> dict[str, Any]:
    """Return the `Langfuse(...)` arguments for sampling and batching; unset ones keep the SDK's defaults."""
    options: dict[str, Any] = {
        "sample_rate": tracing.sample_rate, "flush_at": tracing.flush_at, "flush_interval": tracing.flush_interval,
    }  # fmt: skip
    if tracing.sample_rate is not None and tracing.sample_rate < 1:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

        # The SDK applies sample_rate only to a TracerProvider it registers globally itself; when one is
        # already registered (another client, the app's own OTel) it silently samples nothing out.
        options["tracer_provider"] = TracerProvider(sampler=TraceIdRatioBased(tracing.sample_rate))
    return {key: value for key, value in options.items() if value is not None}


def _serialize(value: Any) -> str | None:
    """Encode an attribute value as the SDK does: strings as they are, anything else as JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def prompt_client(subject: Subject) -> PromptClient | None:
    """Return an SDK prompt client for the subject's registry version (None without one: nothing to link)."""
    if subject.version is None:
        return None
    rendered = subject.rendered
    common: dict[str, Any] = {
        "name": rendered.name, "version": subject.version, "config": dict(rendered.config),
        "labels": list(rendered.labels), "tags": list(rendered.tags),
    }  # fmt: skip
    if isinstance(rendered.prompt, str):
        return TextPromptClient(Prompt_Text(type="text", prompt=rendered.prompt, **common))
    messages: list[Any] = [
        {"type": "placeholder", "name": m["name"]}
        if m.get("type") == "placeholder"
        else {"type": "chatmessage", "role": m["role"], "content": m["content"]}
        for m in rendered.prompt
    ]
    return ChatPromptClient(Prompt_Chat(type="chat", prompt=messages, **common))


def _set_on_current_span(attributes: Mapping[str, str]) -> None:
    otel_trace.get_current_span().set_attributes(attributes)


@contextmanager
def _marking_errors(observation: LangfuseObservationWrapper, mask: Mask) -> Iterator[None]:
    try:
        yield
    except BaseException as exc:  # recorded, then re-raised: a timeout cancels mid-span
        # status_message is not one of the fields the SDK's mask sees: a user's exception can quote anything.
        observation.update(level="ERROR", status_message=mask(data=describe(exc)))
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
        self.observation.update(
            output=output, usage_details=dict(usage) if usage is not None else None,
            metadata=dict(metadata) if metadata is not None else None,
            cost_details=dict(cost) if cost is not None else None,
        )  # fmt: skip


class _LangfuseItemTrace:
    """One item's trace; every observation gets the run's experiment attributes."""

    def __init__(
        self,
        tracer: LangfuseTracer,
        root: LangfuseObservationWrapper,
        attributes: dict[str, str],
        propagated: Mapping[str, Any],
    ) -> None:
        self.tracer, self.root, self.attributes, self.propagated = tracer, root, attributes, propagated

    @property
    def trace_id(self) -> str | None:
        """Return the trace id (32 hex)."""
        return self.root.trace_id

    @contextmanager
    def _observe(self, name: str, as_type: str, **fields: Any) -> Iterator[Observation]:
        client = self.tracer.client
        with client.start_as_current_observation(name=name, as_type=cast(Any, as_type), **fields) as observation:
            _set_on_current_span(self.attributes)
            with _marking_errors(observation, self.tracer.redact_data):
                yield _LangfuseObservation(observation)

    def span(self, name: str, *, input: Any = None, kind: str = "span") -> AbstractContextManager[Observation]:
        """Open a child span (kind is the Langfuse observation type: span, retriever, tool, ...)."""
        return self._observe(name, kind, input=input)

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
        return self._observe(
            name, "generation", input=[dict(m) for m in messages], model=model,
            model_parameters={k: v for k, v in parameters.items() if v is not None},
            prompt=self.tracer.prompt(prompt) if prompt is not None else None,
        )  # fmt: skip

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
        usage = {"input": result.input_tokens, "output": result.output_tokens}
        metadata = {"item_id": result.item_id, "repeat": result.repeat, "latency_s": result.latency_s, "tokens": usage}
        if result.failed:
            reason = self.tracer.redact(result.error)  # the SDK's mask covers output and metadata, not this
            self.root.update(output=f"Error: {reason}", level="ERROR", status_message=reason, metadata=metadata)
        else:
            self.root.update(output=result.output, metadata=metadata)


class LangfuseTracer:
    """Records runs in Langfuse through a given SDK client (build it with mask=make_mask(patterns))."""

    name = "langfuse"

    def __init__(
        self, client: Langfuse, *, environment: str = EXPERIMENT_ENVIRONMENT, redact_patterns: Sequence[str] = ()
    ) -> None:
        self.client = client
        self.environment = environment
        self._mask = make_mask(redact_patterns)  # for what the SDK's mask never sees: attributes, comments
        self._prompts: dict[tuple[str, int, str], PromptClient | None] = {}
        self._runs: dict[str, tuple[dict[str, str], dict[str, Any]]] = {}

    def redact(self, value: Any) -> Any:
        """Return the value with sensitive strings masked."""
        return self._mask(data=value)

    def redact_data(self, *, data: Any) -> Any:
        """Return `data` masked (the SDK mask's signature)."""
        return self._mask(data=data)

    def prompt(self, subject: Subject) -> PromptClient | None:
        """Return the (cached) prompt client a generation links to."""
        key = (subject.rendered.name, subject.version or 0, subject.rendered.content_hash)
        if key not in self._prompts:
            self._prompts[key] = prompt_client(subject)
        return self._prompts[key]

    def start_run(self, run: RunInfo) -> None:
        """Prepare the run's shared attributes; nothing is sent: a Langfuse experiment exists through its items."""
        self._runs[run.run_id] = self._run_parts(run)

    def _run_parts(self, run: RunInfo) -> tuple[dict[str, str], dict[str, Any]]:
        # Redacted once per run rather than per item: redaction is most of the tracer's own cost.
        run_metadata = {
            "prompt": run.prompt, "version": run.subject.version, "subject": run.subject.description,
            "dataset": run.dataset, "model": run.model, "seed": run.seed, "task": run.task, **run.metadata,
        }  # fmt: skip
        experiment = {
            EXPERIMENT + "id": run.run_id, EXPERIMENT + "name": run.name,
            EXPERIMENT + "description": run.subject.description, EXPERIMENT + "metadata": _serialize(run_metadata),
        }  # fmt: skip
        version = run.subject.version
        propagated = {
            "tags": ["promptops", f"prompt:{run.prompt}", f"dataset:{run.dataset}"],
            "metadata": {"experiment": run.name, "run": run.run_id, **run.metadata},
            "version": str(version) if version is not None else run.subject.description,
            "environment": self.environment,
        }  # fmt: skip
        return self.redact(experiment), self.redact(propagated)

    def _item_parts(self, run: RunInfo, item: DatasetItem, repeat: int) -> tuple[dict[str, str], dict[str, Any]]:
        if run.run_id not in self._runs:
            self.start_run(run)
        run_experiment, run_propagated = self._runs[run.run_id]
        user, session = item.metadata.get("user_id"), item.metadata.get("session_id")
        item_values = {
            EXPERIMENT + "item.id": item.id if run.metadata.get(DATASET_LINK) != UNLINKED else _local_item_id(item),
            EXPERIMENT + "item.metadata": _serialize(dict(item.metadata)) if item.metadata else None,
            "user_id": str(user) if user is not None else None,
            "session_id": str(session) if session is not None else None,
        }
        redacted = {key: self.redact(value) for key, value in item_values.items() if value is not None}
        experiment = {**run_experiment, **{k: v for k, v in redacted.items() if k.startswith(EXPERIMENT)}}
        metadata = {**run_propagated["metadata"], "item": experiment[EXPERIMENT + "item.id"], "repeat": str(repeat)}
        propagated = {**run_propagated, "metadata": metadata}
        propagated.update((k, v) for k, v in redacted.items() if not k.startswith(EXPERIMENT))
        return experiment, propagated

    @contextmanager
    def item(self, run: RunInfo, item: DatasetItem, repeat: int) -> Iterator[ItemTrace]:
        """Open the item's trace: propagated attributes, then the root span with the item's input."""
        attributes, propagated = self._item_parts(run, item, repeat)
        with propagate_attributes(**propagated):
            with self.client.start_as_current_observation(name=ROOT_SPAN, input=dict(item.input)) as root:
                attributes[EXPERIMENT + "item.root_observation_id"] = root.id
                expected = _serialize(self.redact(item.expected_output))
                root_only = {EXPERIMENT + "item.expected_output": expected} if expected is not None else {}
                _set_on_current_span({**attributes, **root_only})
                with _marking_errors(root, self.redact_data):
                    yield _LangfuseItemTrace(self, root, attributes, propagated)

    def finish_run(self, run: RunInfo, result: ExperimentResult) -> None:
        """Attach the run's aggregates as run-level scores (datasetRunId = the run id, as the SDK does)."""
        for name, summary in result.metrics.items():
            if summary.mean is None:
                continue
            score_name = name if name in ("latency_p50", "latency_p95", "error_rate") else f"mean_{name}"
            self.client.create_score(
                dataset_run_id=run.run_id, name=score_name, value=summary.mean, data_type="NUMERIC"
            )
        self._runs.pop(run.run_id, None)

    def flush(self) -> None:
        """Deliver queued spans and scores (blocks on the network)."""
        self.client.flush()

    def close(self) -> None:
        """Deliver what is queued; the client belongs to the registry, which shuts it down."""
        self.client.flush()
