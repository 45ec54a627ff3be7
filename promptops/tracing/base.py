"""The recording protocol shared by the runner and the tasks: a run, one trace per item, spans and scores.

Implementations: NullTracer (below), LocalTracer (SQLite, tracing/local.py) and LangfuseTracer (the SDK,
tracing/langfuse.py). The runner and the tasks only ever talk to these protocols.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from promptops.model import DatasetItem, RenderedPrompt

if TYPE_CHECKING:
    from promptops.evaluators.base import DataType
    from promptops.results import ExperimentResult, ItemResult

ROOT_SPAN = "experiment-item"
GENERATION = "prompt-managed-call"


# Run metadata saying the items are not the registry's dataset (an experiment on uncommitted or not uploaded
# files): the run's traces must then not point at the registry's dataset items of the same ids.
DATASET_LINK, UNLINKED = "dataset_link", "none"


@dataclass(frozen=True)
class Subject:
    """What an experiment runs: a rendered prompt, its registry version if it has one, and how to call it."""

    rendered: RenderedPrompt
    version: int | None
    description: str  # e.g. "version 3 (production)", "working tree"


@dataclass(frozen=True)
class RunInfo:
    """One experiment run as the tracers record it."""

    run_id: str  # 16 hex characters, like the SDK's experiment ids
    name: str  # the experiment run name shown in Langfuse
    subject: Subject
    dataset: str
    model: str
    seed: int
    task: str
    planned: int  # items x repeats
    started_at: str  # ISO 8601 UTC
    metadata: Mapping[str, str] = field(default_factory=dict)  # e.g. {"git_commit": "..."}

    @property
    def prompt(self) -> str:
        """Return the prompt's name."""
        return self.subject.rendered.name


def new_id(n_bytes: int) -> str:
    """Return a random lowercase hex id of `n_bytes` bytes (8: span or run id, 16: trace id)."""
    return secrets.token_hex(n_bytes)


class Observation(Protocol):
    """An open span or generation; `update` records what it produced."""

    @property
    def id(self) -> str | None: ...

    def update(
        self,
        *,
        output: Any = None,
        usage: Mapping[str, int] | None = None,
        metadata: Mapping[str, Any] | None = None,
        cost: Mapping[str, float] | None = None,
    ) -> None:
        """Record the output, token usage and cost in USD (generations: input/output/total) or metadata."""
        ...


class ItemTrace(Protocol):
    """One item's trace: nested spans, the prompt-managed generation, scores, and the final result."""

    @property
    def trace_id(self) -> str | None: ...

    def span(self, name: str, *, input: Any = None, kind: str = "span") -> AbstractContextManager[Observation]:
        """Open a child span (kind: span, retriever, ...) as the current observation."""
        ...

    def generation(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, str]],
        parameters: Mapping[str, Any],
        prompt: Subject | None,
        name: str = GENERATION,
    ) -> AbstractContextManager[Observation]:
        """Open a model call linked to the prompt version that produced its messages."""
        ...

    def score(self, name: str, value: float | str | bool, data_type: DataType, comment: str | None = None) -> None:
        """Attach a score to the item's trace."""
        ...

    def finish(self, result: ItemResult) -> None:
        """Record the item's outcome; called once, inside the `item` context."""
        ...


class Tracer(Protocol):
    """Where a run's traces go: nowhere, a SQLite file, or Langfuse."""

    name: str

    def start_run(self, run: RunInfo) -> None:
        """Record that a run started."""
        ...

    def item(self, run: RunInfo, item: DatasetItem, repeat: int) -> AbstractContextManager[ItemTrace]:
        """Open the trace of one item (one repeat) of a run."""
        ...

    def finish_run(self, run: RunInfo, result: ExperimentResult) -> None:
        """Record the run's outcome (every planned item, metrics, why it stopped)."""
        ...

    def flush(self) -> None:
        """Deliver everything recorded so far (blocking)."""
        ...

    def close(self) -> None:
        """Deliver everything and release what the tracer holds (files, not a shared client)."""
        ...


class _NullObservation:
    id: str | None = None

    def update(
        self,
        *,
        output: Any = None,
        usage: Mapping[str, int] | None = None,
        metadata: Mapping[str, Any] | None = None,
        cost: Mapping[str, float] | None = None,
    ) -> None:
        """Record nothing."""


_NULL_OBSERVATION = _NullObservation()


@contextmanager
def _null_observation() -> Iterator[Observation]:
    yield _NULL_OBSERVATION


class _NullItemTrace:
    trace_id: str | None = None

    def span(self, name: str, *, input: Any = None, kind: str = "span") -> AbstractContextManager[Observation]:
        """Open nothing."""
        return _null_observation()

    def generation(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, str]],
        parameters: Mapping[str, Any],
        prompt: Subject | None,
        name: str = GENERATION,
    ) -> AbstractContextManager[Observation]:
        """Open nothing."""
        return _null_observation()

    def score(self, name: str, value: float | str | bool, data_type: DataType, comment: str | None = None) -> None:
        """Record nothing."""

    def finish(self, result: ItemResult) -> None:
        """Record nothing."""


_NULL_ITEM_TRACE = _NullItemTrace()


class NullTracer:
    """Records nothing: for read-only checks and benchmarks of the runner itself."""

    name = "null"

    def start_run(self, run: RunInfo) -> None:
        """Record nothing."""

    @contextmanager
    def item(self, run: RunInfo, item: DatasetItem, repeat: int) -> Iterator[ItemTrace]:
        """Yield a trace that records nothing."""
        yield _NULL_ITEM_TRACE

    def finish_run(self, run: RunInfo, result: ExperimentResult) -> None:
        """Record nothing."""

    def flush(self) -> None:
        """Deliver nothing."""

    def close(self) -> None:
        """Hold nothing."""
