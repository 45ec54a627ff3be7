"""What the gate adds for noisy scores: per-metric statistics, lower-bound checks, and notes on the sample.

- Statistics (in the verdict when a run has repeats or the gate decides on lower bounds): per metric and run,
  the mean with its bootstrap interval, and for pass/fail metrics (BOOLEAN, or NUMERIC with a threshold) the
  pass rate with its Wilson interval, pass@k and pass^k for k = repeats, and each item's pass rate.
- `gate: {decide_on: lower_bound}` adds "interval" checks at confidence 1 - alpha: the primary metric's
  per-item gain over the baseline (items resampled, repeats averaged) must have a lower bound above min_delta
  (no_regression: at least -min_delta), and each floor must hold for the interval's lower bound (Wilson for a
  BOOLEAN metric or error_rate, whose floor is a ceiling held by the upper bound; bootstrap for a NUMERIC mean).
- Notes: when a sign test cannot reach alpha on this many items unless nearly all improve; when a floor cannot be
  met at this confidence even by a perfect run; when the gate reads a latency metric measured from a real model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from promptops.evaluators.aggregate import MetricSummary
from promptops.llm import provider_name
from promptops.model import GatePolicy
from promptops.results import ExperimentResult, ItemResult
from promptops.statistics import (
    Interval,
    bootstrap_mean,
    pass_at_k,
    pass_hat_k,
    sign_test_min_pairs,
    sign_test_min_wins,
    wilson,
)
from promptops.verdict import EPSILON, Check, format_value, item_value

LATENCY = ("latency_p50", "latency_p95")
NOT_SCORES = (*LATENCY, "error_rate")
MOCK = "mock-llm-v1"


@dataclass(frozen=True)
class ItemPassRate:
    """How often one item passed over its repeats."""

    item_id: str
    passes: int
    trials: int


@dataclass(frozen=True)
class MetricStatistics:
    """One metric of one run, with its intervals; the pass fields are None for a metric without pass/fail."""

    metric: str
    run: str  # candidate or baseline
    items: int
    trials: int  # items × repeats
    k: int  # repeats: pass@k and pass^k use this k
    mean: float | None
    mean_interval: Interval | None
    pass_rate: float | None = None
    pass_interval: Interval | None = None
    pass_at_k: float | None = None
    pass_hat_k: float | None = None
    flaky_items: int = 0  # passed some repeats and failed others
    item_pass_rates: tuple[ItemPassRate, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self) | {"item_pass_rates": [asdict(r) for r in self.item_pass_rates]}


@dataclass(frozen=True)
class GateStatistics:
    """What gate.judge adds to a verdict."""

    checks: tuple[Check, ...]
    statistics: tuple[MetricStatistics, ...]
    notes: tuple[str, ...]


def extend(
    policy: GatePolicy,
    candidate: ExperimentResult,
    baseline: ExperimentResult | None,
    pairs: Sequence[tuple[ItemResult, ItemResult]],
) -> GateStatistics:
    """Return the statistics, interval checks and notes for a verdict."""
    confidence = 1 - policy.alpha
    if not 0 < confidence < 1:
        return GateStatistics((), (), ())  # alpha outside (0, 1) (the schema refuses it): no interval exists
    repeats = max((i.repeat for i in candidate.items), default=0) + 1
    stats: list[MetricStatistics] = []
    if repeats > 1 or policy.decide_on == "lower_bound":
        for run, result in (("candidate", candidate), ("baseline", baseline)):
            if result is not None:
                stats += [metric_statistics(result, name, run, confidence) for name in _score_metrics(result)]
    checks: list[Check] = []
    if policy.decide_on == "lower_bound":
        if baseline is not None:
            checks.append(_gain_check(policy, candidate, pairs, confidence))
        checks += [
            c for name, floor in policy.floors.items() if (c := _floor_check(name, floor, candidate, confidence))
        ]
    notes = _sample_notes(policy, candidate, baseline, pairs) + _latency_notes(policy, candidate)
    return GateStatistics(tuple(checks), tuple(stats), tuple(notes))


def _score_metrics(result: ExperimentResult) -> list[str]:
    return [n for n, s in result.metrics.items() if n not in NOT_SCORES and s.data_type != "CATEGORICAL"]


def _by_item(items: Sequence[ItemResult]) -> dict[str, list[ItemResult]]:
    grouped: dict[str, list[ItemResult]] = {}
    for item in items:
        grouped.setdefault(item.item_id, []).append(item)
    return grouped


def _passed(item: ItemResult, metric: str, summary: MetricSummary, threshold: float | None) -> bool | None:
    """Return whether an item passed a metric (a failed item never does), None for a metric without pass/fail."""
    if summary.data_type == "BOOLEAN":
        threshold = 1.0
    elif threshold is None:
        return None
    score = None if item.failed else item.score(metric)
    return score is not None and float(score.value) >= threshold - EPSILON


def metric_statistics(result: ExperimentResult, metric: str, run: str, confidence: float) -> MetricStatistics:
    """Return one metric's statistics over a run: intervals, pass@k and pass^k, per-item pass rates."""
    summary = result.metrics[metric]
    grouped = _by_item(result.items)
    k = min((len(group) for group in grouped.values()), default=1)
    means = []
    for group in grouped.values():
        values = [v for i in group if (v := item_value(i, metric, summary)) is not None]
        if values:
            means.append(sum(values) / len(values))
    interval = bootstrap_mean(means, seed=f"{result.seed}:{metric}:{run}", confidence=confidence)
    base = MetricStatistics(metric, run, len(grouped), len(result.items), k, summary.mean, interval)
    threshold = result.extra.get("pass_thresholds", {}).get(metric)
    outcomes = {i: [_passed(item, metric, summary, threshold) for item in g] for i, g in grouped.items()}
    if not outcomes or any(o is None for group in outcomes.values() for o in group):
        return base
    rates = tuple(ItemPassRate(i, sum(bool(o) for o in group), len(group)) for i, group in outcomes.items())
    passes, trials = sum(r.passes for r in rates), sum(r.trials for r in rates)
    return MetricStatistics(
        metric, run, len(grouped), trials, k, summary.mean, interval,
        pass_rate=passes / trials if trials else None,
        pass_interval=wilson(passes, trials, confidence),
        pass_at_k=sum(pass_at_k(r.trials, r.passes, k) for r in rates) / len(rates),
        pass_hat_k=sum(pass_hat_k(r.trials, r.passes, k) for r in rates) / len(rates),
        flaky_items=sum(0 < r.passes < r.trials for r in rates),
        item_pass_rates=rates,
    )  # fmt: skip


def _percent(confidence: float) -> str:
    return f"{confidence * 100:g}%"


def _gain_check(
    policy: GatePolicy, candidate: ExperimentResult, pairs: Sequence[tuple[ItemResult, ItemResult]], confidence: float
) -> Check:
    metric, min_delta = policy.primary, policy.min_delta
    summary = candidate.metrics.get(metric)
    if summary is None or summary.data_type == "CATEGORICAL":
        why = "it has no values" if summary is None else "it is CATEGORICAL, so its items have no numeric values"
        return Check("interval", metric, None, None, None, min_delta, False, f"no interval for {metric}: {why}")
    gains: dict[str, list[float]] = {}
    for base, cand in pairs:
        b, c = item_value(base, metric, summary), item_value(cand, metric, summary)
        if b is not None and c is not None:
            gains.setdefault(cand.item_id, []).append((c - b) if summary.higher_is_better else (b - c))
    per_item = [sum(g) / len(g) for g in gains.values()]
    interval = bootstrap_mean(per_item, seed=f"{candidate.seed}:{metric}:gain", confidence=confidence)
    if interval is None:
        message = f"no paired items with values of {metric}, so its gain has no interval"
        return Check("interval", metric, None, None, None, min_delta, False, message)
    low = interval.low
    shown = f"[{format_value(low, signed=True)}, {format_value(interval.high, signed=True)}]"
    where = f"the {_percent(confidence)} interval of the {metric} gain is {shown} over {len(per_item)} items"
    bound, threshold = format_value(low, signed=True), f"min_delta {format_value(min_delta)}"
    if policy.policy == "no_regression":
        passed = low >= -min_delta - EPSILON
        verdict = 'within' if passed else 'a possible regression beyond'
        message = f"{where}: its lower bound {bound} is {verdict} {threshold}"
    else:
        passed = low > min_delta + EPSILON
        message = f"{where}: its lower bound {bound} {'>' if passed else 'is not >'} {threshold}"
    return Check("interval", metric, None, None, low, min_delta, passed, message)


def _floor_check(metric: str, floor: float, candidate: ExperimentResult, confidence: float) -> Check | None:
    summary = candidate.metrics.get(metric)
    if summary is None or summary.mean is None or metric in LATENCY or summary.data_type == "CATEGORICAL":
        return None  # the plain floor check fails or speaks already; a latency percentile has no such interval
    if metric == "error_rate":
        failed, trials = sum(i.failed for i in candidate.items), len(candidate.items)
        interval = wilson(failed, trials, confidence)
        assert interval is not None
        passed = interval.high <= floor + EPSILON
        where = "is within" if passed else "exceeds"
        message = (
            f"error_rate's {_percent(confidence)} upper bound {format_value(interval.high)} (Wilson, {failed} of "
            f"{trials} failed) {where} the floor {format_value(floor)} (a maximum)"
        )
        return Check("interval", metric, None, interval.high, None, floor, passed, message)
    stats = metric_statistics(candidate, metric, "candidate", confidence)
    found = stats.pass_interval if summary.data_type == "BOOLEAN" else stats.mean_interval
    if found is None:
        return None
    how = (
        f"Wilson, {round((stats.pass_rate or 0) * stats.trials)} of {stats.trials} trials"
        if found.method == "wilson"
        else f"bootstrap over {stats.items} items"
    )
    passed = found.low >= floor - EPSILON
    verdict = "meets" if passed else "is below"
    message = (
        f"{metric}'s {_percent(confidence)} lower bound {format_value(found.low)} ({how}) {verdict} "
        f"the floor {format_value(floor)}"
    )
    return Check("interval", metric, None, found.low, None, floor, passed, message)


def _sample_notes(
    policy: GatePolicy,
    candidate: ExperimentResult,
    baseline: ExperimentResult | None,
    pairs: Sequence[tuple[ItemResult, ItemResult]],
) -> list[str]:
    notes = []
    summary = candidate.metrics.get(policy.primary)
    if policy.significance == "sign" and policy.policy == "improve" and baseline is not None and summary is not None:
        n = sum(
            item_value(b, policy.primary, summary) is not None and item_value(c, policy.primary, summary) is not None
            for b, c in pairs
        )
        wins = sign_test_min_wins(n, policy.alpha)
        if wins is None:
            notes.append(
                f"with {n} paired items a sign test cannot reach p < {policy.alpha:g} even if every item improves: "
                f"it needs at least {sign_test_min_pairs(policy.alpha)}"
            )
        elif wins >= 0.8 * n:
            notes.append(
                f"with {n} paired items a sign test cannot reach p < {policy.alpha:g} unless {wins} of {n} improve"
            )
    if policy.decide_on == "lower_bound":
        confidence = 1 - policy.alpha
        trials = len(candidate.items)
        for metric, floor in policy.floors.items():
            found = candidate.metrics.get(metric)
            if metric == "error_rate":
                best = wilson(0, trials, confidence)
                if best is not None and best.high > floor + EPSILON:
                    notes.append(
                        f"with {trials} trials even a run without failures has a {_percent(confidence)} upper bound of "
                        f"{format_value(best.high)} for error_rate, above its floor {format_value(floor)}: "
                        "the floor cannot be met; add items or repeats"
                    )
            elif found is not None and found.data_type == "BOOLEAN":
                best = wilson(trials, trials, confidence)
                if best is not None and best.low < floor - EPSILON:
                    notes.append(
                        f"with {trials} trials even a perfect {metric} has a {_percent(confidence)} lower bound of "
                        f"{format_value(best.low)}, below its floor {format_value(floor)}: the floor cannot be met; "
                        "add items or repeats"
                    )
    return notes


def _latency_notes(policy: GatePolicy, candidate: ExperimentResult) -> list[str]:
    used = [policy.primary, *(g.metric for g in policy.guardrails), *policy.floors]
    latency = [m for m in dict.fromkeys(used) if m in LATENCY]
    if not latency or provider_name(candidate.model) == MOCK:
        return []
    replayed = "; replayed calls measure reading a recording, not the model" if candidate.calls.replayed_calls else ""
    return [
        f"{metric} is measured from a real model ({candidate.model}): it moves with the network and the provider's "
        f"load, not with the prompt, so it is noise for this gate{replayed}"
        for metric in latency
    ]
