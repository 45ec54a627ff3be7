"""What a run reports when it ends: every planned item (unrun ones failed with why), and its aggregates.

The runner (promptops/runner.py) decides what runs and when it stops; this module turns what it has at the end
into the ExperimentResult the gate judges. The gate counts failures, so no planned item is ever left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from promptops.cost import CallStats
from promptops.evaluators import Evaluator
from promptops.evaluators.aggregate import MetricSummary, error_rate, summarize, summarize_latency
from promptops.results import ExperimentResult, ItemResult

if TYPE_CHECKING:
    from promptops.runner import ExperimentRun

# Why a run stopped early (ExperimentResult.stopped), and what its unrun items then say.
INTERRUPTED = "interrupted"
FAILURE_THRESHOLD = "failure threshold"
TIME_LIMIT = "time limit"
BUDGET = "budget"
RUN_TIME_LIMIT_REASON = "timeout: run time limit reached"
NOT_RUN_REASONS: Mapping[str, str] = {
    INTERRUPTED: "not run: interrupted",
    FAILURE_THRESHOLD: "not run: failure threshold reached",
    TIME_LIMIT: RUN_TIME_LIMIT_REASON,
    BUDGET: "not run: budget reached",
}


def experiment_result(run: ExperimentRun, calls: CallStats) -> ExperimentResult:
    """Return the ExperimentResult of every planned item of `run`: finished ones, the rest failed with why."""
    reason = NOT_RUN_REASONS[run.stopped or INTERRUPTED]
    items = tuple(
        run.results.get(i) or ItemResult(item.id, repeat, item.input, item.expected_output, output=None, error=reason)
        for i, (item, repeat) in enumerate(run.plan)
    )
    metrics, problems = _metrics(run.evaluators, items)
    thresholds = _pass_thresholds(run.evaluators)
    return ExperimentResult(
        prompt=run.subject.rendered.name,
        subject=run.subject.description,
        version=run.subject.version,
        dataset=run.dataset.name,
        model=run.spec.model,
        seed=run.spec.seed,
        items=items,
        metrics=metrics,
        run_id=run.info.run_id,
        stopped=run.stopped,
        input_tokens=sum(i.input_tokens for i in items),
        output_tokens=sum(i.output_tokens for i in items),
        extra={
            "task": run.spec.task,
            "planned": len(run.plan),
            **({"metric_errors": problems} if problems else {}),
            **({"pass_thresholds": thresholds} if thresholds else {}),
        },
        calls=calls,
    )


def _pass_thresholds(evaluators: Sequence[Evaluator]) -> dict[str, float]:
    """Return the pass threshold of each NUMERIC evaluator that has one, for per-item pass statistics."""
    found = {}
    for ev in evaluators:
        threshold = getattr(ev, "threshold", None)
        if isinstance(threshold, int | float) and not isinstance(threshold, bool):
            found[ev.name] = float(threshold)
    return found


def _metrics(
    evaluators: Sequence[Evaluator], items: Sequence[ItemResult]
) -> tuple[dict[str, MetricSummary], dict[str, str]]:
    metrics: dict[str, MetricSummary] = {}
    problems: dict[str, str] = {}
    for ev in evaluators:
        scores = [None if i.failed else i.score(ev.name) for i in items]
        try:
            metrics[ev.name] = summarize(
                ev.name, scores, mapping=ev.mapping, threshold=ev.threshold, data_type=ev.data_type
            )
        except ValueError as exc:  # mixed types or an unmapped category: report it, keep the run
            problems[ev.name] = str(exc)
    p50, p95 = summarize_latency([None if i.failed else i.latency_s for i in items])
    metrics.update(latency_p50=p50, latency_p95=p95)
    metrics["error_rate"] = error_rate(sum(i.failed for i in items), len(items))
    return metrics, problems
