"""When a run cannot be judged: a budget stopped it, or its model could not be called here.

Either way the gate must decide nothing (a version is neither promoted nor rejected), and the message says why:
what was spent, or which model could not run, what the recordings answered, and with which model it could run.
"""

from __future__ import annotations

from promptops.budget import BudgetExceeded, NotEvaluated
from promptops.cost import format_usd
from promptops.results import ExperimentResult
from promptops.runner import BUDGET

RUNNABLE_HERE = "mock-llm-v1"


def judgeable(
    result: ExperimentResult,
    prompt: str,
    role: str,
    *,
    baseline: ExperimentResult | None = None,
    budget_only: bool = False,
) -> ExperimentResult:
    """Return the result when the gate may judge it; raise NotEvaluated when it may not (role: candidate...)."""
    calls = result.calls
    run = f"the {role} run ({result.subject})"
    if result.stopped == BUDGET:
        spent = format_usd(calls.cost_usd)
        raise BudgetExceeded(
            prompt,
            f"{calls.stopped_by_budget or 'the budget was reached'} during {run}, which stopped there after "
            f"{calls.live_calls} live calls costing {spent}; nothing was promoted or rejected",
        )
    if budget_only or calls.unavailable is None:
        return result
    done = calls.replayed_calls
    replayed = f"{done} of its calls replayed from recordings" if done else "none of its calls had a recording"
    base = ""
    if baseline is not None:
        b = baseline.calls
        how = f"replayed {b.replayed_calls} calls from recordings" if b.replayed_calls else "made no replayed calls"
        live = f" and {b.live_calls} live" if b.live_calls else ""
        base = f" The baseline run ({baseline.subject}) {how}{live}."
    raise NotEvaluated(
        prompt,
        f"{run} could not call {result.model} here ({calls.unavailable}; {replayed}; a pull request from a fork "
        f"gets no secrets).{base} It can run here with {RUNNABLE_HERE} (`experiment.model: {RUNNABLE_HERE}`), or "
        "where the key is set: record its responses with `promptops check --responses record` and commit them. "
        "Nothing was promoted or rejected.",
    )
