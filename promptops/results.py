"""The outcome of an experiment run: what the runner returns, what the gate reads, what reports show."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from promptops.cost import CallStats
from promptops.evaluators.aggregate import MetricSummary
from promptops.evaluators.base import Score

if TYPE_CHECKING:
    from promptops.tracing.base import Subject

EVALUATOR_ERROR = "evaluator error: "  # how an item that failed in an evaluator records it: prefix, name, ": "


def evaluator_failures(items: Iterable[ItemResult]) -> dict[str, tuple[int, str]]:
    """Return, per evaluator that raised, on how many items and the first error it raised (type: message)."""
    found: dict[str, tuple[int, str]] = {}
    for item in items:
        if item.error and item.error.startswith(EVALUATOR_ERROR):
            name, _, error = item.error.removeprefix(EVALUATOR_ERROR).partition(": ")
            count, first = found.get(name, (0, error))
            found[name] = (count + 1, first)
    return found


@dataclass(frozen=True)
class ItemResult:
    """One dataset item (one repeat) of a run: the output and scores, or the reason it failed."""

    item_id: str
    repeat: int
    input: Mapping[str, Any]
    expected_output: Any
    output: str | None
    error: str | None  # why the item failed; a failed item is a result too, never dropped
    scores: tuple[Score, ...] = ()
    latency_s: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    trace_id: str | None = None

    @property
    def failed(self) -> bool:
        """Return whether the item failed (task, model or evaluator error)."""
        return self.error is not None

    def score(self, name: str) -> Score | None:
        """Return the score with this name, if the item has one."""
        return next((s for s in self.scores if s.name == name), None)


@dataclass(frozen=True)
class ExperimentResult:
    """A whole run of one prompt version on its dataset."""

    prompt: str
    subject: str  # what ran, e.g. "version 3 (production)", "working tree", "base ref main"
    version: int | None
    dataset: str
    model: str
    seed: int
    items: tuple[ItemResult, ...]
    metrics: Mapping[str, MetricSummary]  # evaluator metrics plus latency_p50, latency_p95, error_rate
    run_id: str
    stopped: str | None = None  # why the run stopped early (failure threshold, time limit, interrupted)
    input_tokens: int = 0
    output_tokens: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)
    calls: CallStats = field(default_factory=CallStats)  # live and replayed calls, cost, rate limiting

    @property
    def failed_items(self) -> tuple[ItemResult, ...]:
        """Return the items that failed."""
        return tuple(i for i in self.items if i.failed)

    def failure_reasons(self) -> dict[str, int]:
        """Return how many items failed for each reason."""
        reasons: dict[str, int] = {}
        for item in self.failed_items:
            key = (item.error or "").split(":", 1)[0]
            reasons[key] = reasons.get(key, 0) + 1
        return reasons


@dataclass(frozen=True)
class Evaluation:
    """The runs behind one verdict (or one experiment) and the prompt text each ran: what reports show per item.

    `baseline` is None for a single run: `experiment`, or a new prompt judged on its floors only.
    """

    candidate: ExperimentResult
    baseline: ExperimentResult | None
    candidate_prompt: str
    baseline_prompt: str | None = None

    @classmethod
    def of(
        cls,
        candidate: ExperimentResult,
        baseline: ExperimentResult | None,
        candidate_subject: Subject,
        baseline_subject: Subject | None,
    ) -> Evaluation:
        """Return the evaluation of two runs, with the prompt text of the subjects they ran."""
        from promptops.textdiff import prompt_as_text

        base_prompt = prompt_as_text(baseline_subject.rendered.prompt) if baseline_subject is not None else None
        return cls(candidate, baseline, prompt_as_text(candidate_subject.rendered.prompt), base_prompt)
