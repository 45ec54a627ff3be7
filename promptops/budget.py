"""Budgets: refuse a run whose estimate is above the budget, and stop one that reaches it.

`budget: {max_usd: X}` in a prompt file holds for that prompt's runs (baseline and candidate together) in one
command; in the project config it holds for everything the command runs. Before a prompt is evaluated, the
estimate is items × repeats × runs × calls per item (the task's, plus each llm_judge's), less the calls its
recordings will answer, at the tokens per call its recordings show (else the budget's stated assumption),
priced by cost.py. During a run, no live call starts once a budget is spent. Both end in NotEvaluated: nothing
is promoted or rejected. A model without a known price fails closed whenever a budget is set.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from promptops.cost import cost_usd, format_usd, price_for
from promptops.errors import ModelError, PromptopsError
from promptops.model import Budget, DatasetSpec, ExperimentSpec, ModelPrice

MOCK = "mock-llm-v1"


class NotEvaluated(PromptopsError):
    """A prompt could not be judged (its budget, or a model that cannot run here): nothing promoted or rejected."""

    def __init__(self, prompt: str, reason: str) -> None:
        super().__init__(f"{prompt}: not evaluated: {reason}")
        self.prompt, self.reason = prompt, reason


class BudgetExceeded(NotEvaluated):
    """A run's estimate is above its budget, or the budget was spent during the run."""


class BudgetReached(ModelError):
    """A live call was refused because a budget is spent (the run stops; the item records why)."""


@dataclass(frozen=True)
class Estimate:
    """What a prompt's evaluation is expected to cost before it runs."""

    usd: float | None  # None: a live call to a model without a known price
    live_calls: int
    replayed_calls: int
    free_calls: int  # mock-llm-v1: neither recorded nor billed
    per_call: Mapping[str, tuple[int, int]]  # model -> (input, output) tokens per live call
    from_recordings: bool  # else the budget's assumption
    unpriced: tuple[str, ...]


def planned_calls(spec: ExperimentSpec) -> list[tuple[str, str]]:
    """Return the model calls one item makes: ("task", model), then ("judge:<name>", judge model) per llm_judge."""
    calls = [("task", spec.model)]
    calls += [(f"judge:{e.name}", str(e.options.get("model", MOCK))) for e in spec.evaluators if e.kind == "llm_judge"]
    return calls


def estimate(
    spec: ExperimentSpec,
    dataset: DatasetSpec,
    content_hashes: Sequence[str],
    *,
    mode: str,
    recordings: Sequence[Mapping[str, Any]],
    prices: Mapping[str, ModelPrice],
    budget: Budget,
) -> Estimate:
    """Estimate the cost of running `spec` on `dataset` once per subject (its content hash)."""
    recorded = {_recorded_call(e) for e in recordings}
    live: dict[str, int] = {}
    replayed = free = 0
    for content_hash in content_hashes:
        for repeat in range(spec.repeats):
            for item in dataset.items:
                for call, model in planned_calls(spec):
                    if model == MOCK:
                        free += 1
                    elif mode == "replay" or (
                        mode == "auto" and (content_hash, item.id, repeat, call, model) in recorded
                    ):
                        replayed += 1
                    else:
                        live[model] = live.get(model, 0) + 1
    per_call, from_recordings = {}, True
    for model in live:
        usage = [e["usage"] for e in recordings if e.get("model") == model and isinstance(e.get("usage"), dict)]
        if usage:
            per_call[model] = (
                math.ceil(sum(int(u.get("input_tokens", 0)) for u in usage) / len(usage)),
                math.ceil(sum(int(u.get("output_tokens", 0)) for u in usage) / len(usage)),
            )
        else:
            per_call[model] = (budget.assume_input_tokens, budget.assume_output_tokens)
            from_recordings = False
    unpriced = tuple(sorted(m for m in live if price_for(m, prices) is None))
    usd = None
    if not unpriced:
        usd = 0.0
        for model, calls in sorted(live.items()):
            price = price_for(model, prices)
            assert price is not None
            usd += cost_usd(price, calls * per_call[model][0], calls * per_call[model][1])
    return Estimate(usd, sum(live.values()), replayed, free, per_call, from_recordings, unpriced)


def _recorded_call(entry: Mapping[str, Any]) -> tuple[Any, ...]:
    """Return (content hash, item, repeat, call, model) of a recording: what it answers, for the estimate."""
    found = entry.get("for")
    where: Mapping[str, Any] = found if isinstance(found, dict) else {}
    return (where.get("content_hash"), where.get("item"), entry.get("repeat"), where.get("call"), entry.get("model"))


def budget_name(budget: Budget) -> str:
    """Return e.g. "the budget of $0.1000 (max_usd in prompts/capital-cities.yaml)"."""
    return f"the budget of {format_usd(budget.max_usd)} (max_usd in {budget.source})"


def refuse_over_budget(
    prompt: str, found: Estimate, budget: Budget, spent: float, runs: int, items: int, repeats: int
) -> None:
    """Raise BudgetExceeded when the estimate does not fit what is left of the budget."""
    if found.unpriced:
        raise BudgetExceeded(
            prompt,
            f"not run: no price is known for {', '.join(found.unpriced)}, so {budget_name(budget)} cannot be held; "
            "add the price under `prices` in the project config (USD per million tokens). "
            "Nothing was promoted or rejected.",
        )
    assert found.usd is not None
    if spent + found.usd <= budget.max_usd:
        return
    tokens = ", ".join(
        f"{model} {i:,} input and {o:,} output tokens" for model, (i, o) in sorted(found.per_call.items())
    )
    basis = (
        "as its recordings average"
        if found.from_recordings
        else "assumed (no recordings to go by; set budget.assume_input_tokens and assume_output_tokens)"
    )
    spent_note = f", {format_usd(spent)} of it spent already" if spent else ""
    raise BudgetExceeded(
        prompt,
        f"not run: the estimate of {format_usd(found.usd)} is above {budget_name(budget)}{spent_note}: "
        f"{runs} run{'s' if runs != 1 else ''} × {items} items × {repeats} repeat{'s' if repeats != 1 else ''} "
        f"make {found.live_calls} live calls ({found.replayed_calls} more replay from recordings) at {tokens} "
        f"per call, {basis}. Nothing was promoted or rejected.",
    )
