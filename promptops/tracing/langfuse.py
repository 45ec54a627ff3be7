"""LangfuseTracer: each item becomes one Langfuse trace through the SDK, grouped as one experiment run.

Per item: a root span `experiment-item` inside `propagate_attributes` (user and session from the item's
metadata, tags, run metadata, version, environment), child spans from the task (`retrieve` -> `rank` ->
`prompt-managed-call`, the last a generation linked to the prompt version), and the evaluators' scores
on the root observation. SDK 5 has no public way to mark spans as an experiment run (`run_experiment`
uses the private `_propagate_attributes(experiment=...)`), so we write the same `langfuse.experiment.*`
attributes on every span through OpenTelemetry's public `get_current_span().set_attribute`, with the
environment `sdk-experiment` that `run_experiment` uses (REFERENCE §4.3).

The SDK costs about a millisecond of CPU per item (span start, span processor, serialisation, media scan),
which at concurrency 32 holds the event loop back more than the model does. So the loop only records what
happened (tracing/langfuse_offload.py: redacted values, timestamps, ids) and a worker process replays it
through the same SDK calls (tracing/langfuse_worker.py, tracing/langfuse_replay.py). LangChain runs stay in
this process: their CallbackHandler must nest under a live root span (tracing/langfuse_inprocess.py).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from langfuse import Langfuse
from langfuse.model import PromptClient

from promptops.model import DatasetItem, TracingConfig
from promptops.sensitive import redact_value
from promptops.tracing.base import DATASET_LINK, UNLINKED, ItemTrace, RunInfo, Subject
from promptops.tracing.langfuse_sdk import EXPERIMENT, ItemParts, prompt_client, prompt_spec, serialize

if TYPE_CHECKING:
    from promptops.results import ExperimentResult
    from promptops.tracing.langfuse_worker import TracingWorker

EXPERIMENT_ENVIRONMENT = "sdk-experiment"  # what the SDK's run_experiment writes (LANGFUSE_SDK_EXPERIMENT_ENVIRONMENT)
Mask = Callable[..., Any]
# Spans and scores per export batch when neither the config nor LANGFUSE_FLUSH_AT sets it. The SDK's 512 keeps
# a whole run's spans for the final flush, which every command waits for; batches of 64 go out while the
# items run (bench/README.md, "Experiment runner"). The SDK's score batch (15) becomes 64 too.
DEFAULT_FLUSH_AT = 64


def _local_item_id(item: DatasetItem) -> str:
    """Return the id the SDK gives an item that is not a dataset item: sha256 of its input, 16 hex (§4.3)."""
    text = json.dumps(dict(item.input), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def make_mask(redact_patterns: Sequence[str] = ()) -> Mask:
    """Return a `Langfuse(mask=...)` function redacting every string in dicts and lists (promptops.sensitive)."""
    patterns = tuple(redact_patterns)

    def mask(*, data: Any, **_: Any) -> Any:
        return redact_value(data, patterns)  # the environment's secret values read once per call

    mask.redact_patterns = patterns  # type: ignore[attr-defined]  # lets the loop read them once per item
    return mask


# What the SDK reads from the environment for a setting the config leaves unset, and would fail on at start-up
# with a bare ValueError: (variable, config field, type, valid, what it must be).
_ENVIRONMENT: tuple[tuple[str, str, type, Callable[[Any], bool], str], ...] = (
    ("LANGFUSE_FLUSH_AT", "flush_at", int, lambda v: 1 <= v <= 2048, "a whole number of spans from 1 to 2048"),
    ("LANGFUSE_FLUSH_INTERVAL", "flush_interval", float, lambda v: v > 0, "a number of seconds above 0"),
    ("LANGFUSE_SAMPLE_RATE", "sample_rate", float, lambda v: 0 <= v <= 1, "a share of traces from 0 to 1"),
)


def _check_environment(tracing: TracingConfig) -> None:
    """Refuse, naming it, a batching or sampling variable the SDK would read and could not use."""
    from promptops.errors import ConfigError

    for variable, setting, kind, valid, what in _ENVIRONMENT:
        raw = os.environ.get(variable)
        if raw is None or getattr(tracing, setting) is not None:
            continue  # unset, or the config's tracing.<setting> wins
        try:
            usable = valid(kind(raw))
        except ValueError:
            usable = False
        if not usable:
            raise ConfigError(
                f"{variable}={raw!r} is not {what}: correct or unset it (or set tracing.{setting} in the config)"
            )


def client_options(tracing: TracingConfig) -> dict[str, Any]:
    """Return the `Langfuse(...)` arguments for sampling and batching; unset ones keep the SDK's defaults (or the
    environment's, checked), except the batch size, DEFAULT_FLUSH_AT unless LANGFUSE_FLUSH_AT is set."""
    _check_environment(tracing)
    flush_at = tracing.flush_at
    if flush_at is None and os.environ.get("LANGFUSE_FLUSH_AT") is None:
        flush_at = DEFAULT_FLUSH_AT
    options: dict[str, Any] = {
        "sample_rate": tracing.sample_rate, "flush_at": flush_at, "flush_interval": tracing.flush_interval,
    }  # fmt: skip
    if tracing.sample_rate is not None and tracing.sample_rate < 1:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

        # The SDK applies sample_rate only to a TracerProvider it registers globally itself; when one is
        # already registered (another client, the app's own OTel) it silently samples nothing out.
        options["tracer_provider"] = TracerProvider(sampler=TraceIdRatioBased(tracing.sample_rate))
    return {key: value for key, value in options.items() if value is not None}


def _is_langchain_run(run: RunInfo) -> bool:
    from promptops.tasks.langchain import is_langchain_task

    return is_langchain_task(run.task)


class LangfuseTracer:
    """Records runs in Langfuse through a given SDK client (build it with mask=make_mask(patterns)).

    `offload=False` keeps every item on the given client in this process (as LangChain runs always are).
    """

    name = "langfuse"

    def __init__(
        self,
        client: Langfuse,
        *,
        environment: str = EXPERIMENT_ENVIRONMENT,
        redact_patterns: Sequence[str] = (),
        offload: bool = True,
    ) -> None:
        from promptops.tracing.langfuse_worker import start_worker

        self.client = client
        self.environment = environment
        self._mask = make_mask(redact_patterns)  # for what the SDK's mask never sees: attributes, comments
        self._prompts: dict[tuple[str, int, str], PromptClient | None] = {}
        self._runs: dict[str, tuple[dict[str, str], dict[str, Any], bool]] = {}
        self._worker: TracingWorker | None = start_worker(client) if offload else None

    def redact(self, value: Any) -> Any:
        """Return the value with sensitive strings masked."""
        return self._mask(data=value)

    def prompt(self, subject: Subject) -> PromptClient | None:
        """Return the (cached) prompt client a generation links to."""
        key = (subject.rendered.name, subject.version or 0, subject.rendered.content_hash)
        if key not in self._prompts:
            spec = prompt_spec(subject)
            self._prompts[key] = prompt_client(spec) if spec is not None else None
        return self._prompts[key]

    def start_run(self, run: RunInfo) -> None:
        """Prepare the run's shared attributes; nothing is sent: a Langfuse experiment exists through its items."""
        experiment, propagated = self._run_parts(run)
        self._runs[run.run_id] = (experiment, propagated, self._worker is None or _is_langchain_run(run))

    def _run_parts(self, run: RunInfo) -> tuple[dict[str, str], dict[str, Any]]:
        # Redacted once per run rather than per item: redaction is most of the tracer's own cost.
        run_metadata = {
            "prompt": run.prompt, "version": run.subject.version, "subject": run.subject.description,
            "dataset": run.dataset, "model": run.model, "seed": run.seed, "task": run.task, **run.metadata,
        }  # fmt: skip
        experiment = {
            EXPERIMENT + "id": run.run_id, EXPERIMENT + "name": run.name,
            EXPERIMENT + "description": run.subject.description, EXPERIMENT + "metadata": serialize(run_metadata),
        }  # fmt: skip
        version = run.subject.version
        propagated = {
            "tags": ["promptops", f"prompt:{run.prompt}", f"dataset:{run.dataset}"],
            "metadata": {"experiment": run.name, "run": run.run_id, **run.metadata},
            "version": str(version) if version is not None else run.subject.description,
            "environment": self.environment,
        }  # fmt: skip
        return self.redact(experiment), self.redact(propagated)

    def _item_parts(self, run: RunInfo, item: DatasetItem, repeat: int, item_input: Any) -> ItemParts:
        run_experiment, run_propagated, _ = self._runs[run.run_id]
        user, session = item.metadata.get("user_id"), item.metadata.get("session_id")
        item_values = {
            EXPERIMENT + "item.id": item.id if run.metadata.get(DATASET_LINK) != UNLINKED else _local_item_id(item),
            EXPERIMENT + "item.metadata": serialize(dict(item.metadata)) if item.metadata else None,
            "user_id": str(user) if user is not None else None,
            "session_id": str(session) if session is not None else None,
        }
        values = {key: value for key, value in item_values.items() if value is not None}
        redacted = self.redact({**values, "expected": item.expected_output})  # one call: one read of the secrets
        expected = serialize(redacted.pop("expected"))
        experiment = {**run_experiment, **{k: v for k, v in redacted.items() if k.startswith(EXPERIMENT)}}
        metadata = {**run_propagated["metadata"], "item": experiment[EXPERIMENT + "item.id"], "repeat": str(repeat)}
        propagated = {**run_propagated, "metadata": metadata}
        propagated.update((k, v) for k, v in redacted.items() if not k.startswith(EXPERIMENT))
        return ItemParts(experiment, propagated, item_input, expected)

    @contextmanager
    def item(self, run: RunInfo, item: DatasetItem, repeat: int) -> Iterator[ItemTrace]:
        """Open the item's trace: recorded for the worker, or (LangChain runs) sent through the client here."""
        if run.run_id not in self._runs:
            self.start_run(run)
        if self._worker is None or self._runs[run.run_id][2]:
            from promptops.tracing.langfuse_inprocess import in_process_item

            parts = self._item_parts(run, item, repeat, dict(item.input))  # the client's own mask applies
            with in_process_item(self, parts) as trace:
                yield trace
            return
        from promptops.tracing.langfuse_offload import ItemMask, offloaded_item

        mask = ItemMask(self.client._mask)  # the client's mask, applied here: nothing unmasked leaves
        parts = self._item_parts(run, item, repeat, mask(dict(item.input), "input"))
        with offloaded_item(self, self._worker, parts, mask) as recorded:
            yield recorded

    def finish_run(self, run: RunInfo, result: ExperimentResult) -> None:
        """Attach the run's aggregates as run-level scores (datasetRunId = the run id, as the SDK does)."""
        scores = [
            (name if name in ("latency_p50", "latency_p95", "error_rate") else f"mean_{name}", summary.mean)
            for name, summary in result.metrics.items()
            if summary.mean is not None
        ]
        _, _, in_process = self._runs.pop(run.run_id, (None, None, self._worker is None))
        if in_process or self._worker is None:
            for score_name, value in scores:
                self.client.create_score(dataset_run_id=run.run_id, name=score_name, value=value, data_type="NUMERIC")
        else:
            self._worker.run_scores(run.run_id, scores)

    def flush(self) -> None:
        """Deliver queued spans and scores: the worker's (it replays what it has first), then this client's."""
        if self._worker is not None:
            self._worker.flush()
        self.client.flush()

    def close(self) -> None:
        """Deliver what is queued and stop the worker; the client belongs to the registry, which shuts it down."""
        if self._worker is not None:
            self._worker.close()
        self.client.flush()
