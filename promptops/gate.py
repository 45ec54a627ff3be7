"""The gate: judge a candidate run against its baseline run under a GatePolicy. Values in, a Verdict out.

- A metric's comparable value is `MetricSummary.mean` (failed items already count against it). For
  lower-is-better metrics (latency_p50, latency_p95, error_rate) comparisons are mirrored: the "gain" is
  candidate - baseline, negated when lower is better, so a positive gain always means "better".
- Primary metric: "improve" needs gain > min_delta (equal fails); "no_regression" needs gain >= -min_delta.
  Guardrails need gain >= -max_regression.
- Floors: candidate >= floor, checked with or without a baseline. For a lower-is-better metric the floor is a
  ceiling, candidate <= floor (`floors: {error_rate: 0.1}` means "at most 10% failed items").
- No baseline (no production version yet): only the floors and the run itself are checked.
- The candidate fails if its run stopped early, ran on another dataset/model/seed than the baseline, or has
  no value for the primary metric.
- Significance "sign" (exact two-sided binomial over paired items) or "bootstrap" (paired, seeded with the
  candidate's seed): an "improve" check also needs p < alpha. With the deterministic mock-llm-v1 and one
  repeat each item's outcome is fixed, so the plain comparison decides unless significance is switched on.

Comparisons allow EPSILON of float noise: means of 0/1 scores are inexact, and a delta that equals a threshold
on paper must not pass or fail by rounding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from promptops.cost import CostSummary
from promptops.evaluators.aggregate import MetricSummary
from promptops.model import GatePolicy, Guardrail
from promptops.results import ExperimentResult, ItemResult
from promptops.significance import paired_bootstrap, sign_test
from promptops.verdict import (
    EPSILON,
    Check,
    ItemChange,
    MetricRow,
    SignificanceResult,
    Verdict,
    format_metric,
    item_value,
)

if TYPE_CHECKING:
    pass

TEST_NAMES = {"sign": "sign test", "bootstrap": "paired bootstrap"}


def judge(policy: GatePolicy, candidate: ExperimentResult, baseline: ExperimentResult | None) -> Verdict:
    """Judge a candidate run against its baseline run (None: no production version yet) under `policy`."""
    cand_primary = candidate.metrics.get(policy.primary)
    checks = _run_checks(candidate, baseline)
    significance: SignificanceResult | None = None
    base_primary = baseline.metrics.get(policy.primary) if baseline else None
    pairs = _pairs(candidate, baseline) if baseline is not None else []
    unchanged = bool(pairs) and all(b.output == c.output and not b.failed and not c.failed for b, c in pairs)
    unchanged = unchanged and len(pairs) == len(candidate.items)
    checks.append(
        _primary_check(policy, base_primary, cand_primary, has_baseline=baseline is not None, unchanged=unchanged)
    )
    if baseline is not None:
        if cand_primary is not None and cand_primary.mean is not None:
            significance_check, significance = _significance_check(policy, cand_primary, pairs, candidate.seed)
            checks += [significance_check] if significance_check else []
        checks += [_guardrail_check(g, baseline.metrics.get(g.metric), candidate) for g in policy.guardrails]
    checks += [_floor_check(name, floor, candidate.metrics.get(name)) for name, floor in policy.floors.items()]
    from promptops import gate_stats  # lazy: it builds on this module's Check

    noisy = gate_stats.extend(policy, candidate, baseline, _pairs(candidate, baseline) if baseline else [])
    checks += noisy.checks
    return Verdict(
        prompt=candidate.prompt,
        passed=all(c.passed for c in checks),
        reason=_reason(policy, checks, significance, has_baseline=baseline is not None),
        primary=policy.primary,
        checks=tuple(checks),
        metrics=_metric_rows(candidate, baseline),
        worse_items=_all_worse_items(policy, checks, candidate, baseline, pairs),
        significance=significance,
        baseline_subject=baseline.subject if baseline else None,
        candidate_subject=candidate.subject,
        dataset=candidate.dataset,
        model=candidate.model,
        seed=candidate.seed,
        cost=CostSummary(candidate.calls, baseline.calls if baseline else None),
        statistics=noisy.statistics,
        notes=noisy.notes,
    )


def _all_worse_items(
    policy: GatePolicy,
    checks: Sequence[Check],
    candidate: ExperimentResult,
    baseline: ExperimentResult | None,
    pairs: Sequence[tuple[ItemResult, ItemResult]],
) -> tuple[ItemChange, ...]:
    """Return the items that got worse on the primary and on the metric of every other failed check.

    Without a baseline nothing can get worse: then the items below each failed floor are listed instead.
    """
    failed = [c.metric for c in checks if not c.passed and c.kind in ("guardrail", "floor") and c.metric]
    found: list[ItemChange] = []
    if baseline is not None:
        for metric in dict.fromkeys([policy.primary, *failed]):
            summary = candidate.metrics.get(metric) or baseline.metrics.get(metric)
            found += _worse_items(metric, summary, pairs)
        return tuple(found)
    for check in checks:
        if check.kind == "floor" and not check.passed and check.metric and check.threshold is not None:
            found += _below_floor(check.metric, check.threshold, candidate)
    return tuple(found)


def _below_floor(metric: str, floor: float, candidate: ExperimentResult) -> list[ItemChange]:
    summary = candidate.metrics.get(metric)
    higher_is_better = summary is None or summary.higher_is_better
    below = []
    for item in candidate.items:
        value = item_value(item, metric, summary)
        low = value is not None and (value < floor - EPSILON if higher_is_better else value > floor + EPSILON)
        if item.failed or low:
            below.append(
                ItemChange(
                    item.item_id, item.repeat, item.input, item.expected_output, None, item.output, None, value,
                    None, item.error, metric,
                )
            )  # fmt: skip
    return below


def _mean(summary: MetricSummary | None) -> float | None:
    return None if summary is None else summary.mean


def _gain(baseline: float, candidate: float, higher_is_better: bool) -> float:
    delta = candidate - baseline
    return delta if higher_is_better else -delta


def _movement(metric: str, baseline: float, candidate: float, higher_is_better: bool) -> str:
    """Return e.g. "exact_match fell from 1.00 to 0.00"; "rose" is a regression for lower-is-better metrics."""
    gain = _gain(baseline, candidate, higher_is_better)
    if abs(gain) < EPSILON:
        return f"{metric} stayed at {format_metric(metric, candidate)}"
    verb = "improved" if gain > 0 else "fell" if higher_is_better else "rose"
    return f"{metric} {verb} from {format_metric(metric, baseline)} to {format_metric(metric, candidate)}"


def _delta_note(baseline: float, candidate: float, higher_is_better: bool, metric: str = "") -> str:
    delta = format_metric(metric, candidate - baseline, signed=True)
    return delta + ("" if higher_is_better else ", lower is better")


def _evaluator_checks(run: ExperimentResult, *, is_candidate: bool) -> list[tuple[bool, str]]:
    """Say which evaluators raised, on how many items, with what (masked): a broken measurement is not a score."""
    from promptops.results import evaluator_failures
    from promptops.sensitive import redact_secrets

    found = []
    for name, (count, error) in evaluator_failures(run.items).items():
        shown = redact_secrets(" ".join(error.split()))
        shown = shown if len(shown) <= 160 else shown[:160] + "…"
        where = f"all {count} items" if count == len(run.items) else f"{count} of {len(run.items)} items"
        if is_candidate:
            found.append((False, f"evaluator {name} failed on {where} ({shown}): a score it could not compute "
                                 "counts as a failed item, so fix the evaluator before judging"))  # fmt: skip
        else:
            found.append((True, f"the baseline's evaluator {name} failed on {where} ({shown}); compared as recorded"))
    return found


def _run_checks(candidate: ExperimentResult, baseline: ExperimentResult | None) -> list[Check]:
    found = [(False, f"the candidate run stopped early ({candidate.stopped})")] if candidate.stopped else []
    found += _evaluator_checks(candidate, is_candidate=True)
    if baseline is not None:
        base_setup, cand_setup = (f"dataset {r.dataset}, model {r.model}, seed {r.seed}" for r in (baseline, candidate))
        if base_setup != cand_setup:
            message = f"the baseline ran on {base_setup} but the candidate on {cand_setup}, so they are not comparable"
            found.append((False, message))
        if baseline.stopped:
            # Not a failure: a broken production version must stay beatable; its failed items count against it.
            found.append((True, f"the baseline run stopped early ({baseline.stopped}); compared as recorded"))
        found += _evaluator_checks(baseline, is_candidate=False)
    return [Check("run", None, None, None, None, None, passed, message) for passed, message in found]


def _primary_check(
    policy: GatePolicy,
    base: MetricSummary | None,
    cand: MetricSummary | None,
    *,
    has_baseline: bool,
    unchanged: bool = False,
) -> Check:
    metric, min_delta = policy.primary, policy.min_delta
    if cand is None or cand.mean is None:
        why = "metric" if cand is None else f"value ({cand.n} scored, {cand.missing} failed items)"
        message = f"the candidate has no {metric} {why}, so it cannot be judged"
        return Check("primary", metric, _mean(base), None, None, min_delta, False, message)
    if not has_baseline:
        message = f"no production baseline yet, so {metric} ({format_metric(metric, cand.mean)}) is not compared"
        return Check("primary", metric, None, cand.mean, None, None, True, message)
    if base is None or base.mean is None:
        message = f"the baseline has no value for {metric}, so the candidate cannot be compared"
        return Check("primary", metric, None, cand.mean, None, min_delta, False, message)
    hib, b, c = cand.higher_is_better, base.mean, cand.mean
    gain, note = _gain(b, c, hib), _delta_note(b, c, hib, metric)
    threshold = f"min_delta {format_metric(metric, min_delta)}"
    moved = _movement(metric, b, c, hib)
    if policy.policy == "no_regression":
        passed = gain >= -min_delta - EPSILON
        tail = f"{note}, {'within' if passed else 'a regression beyond'} {threshold}"
        return Check("primary", metric, b, c, c - b, min_delta, passed, f"{moved} ({tail})")
    if gain > min_delta + EPSILON:
        tail = f"{note} > {threshold}" if hib else f"{note}; gain {format_metric(metric, gain)} > {threshold}"
        return Check("primary", metric, b, c, c - b, min_delta, True, f"{moved} ({tail})")
    if gain < -EPSILON:  # a regression speaks for itself
        return Check("primary", metric, b, c, c - b, min_delta, False, f"{moved} ({note})")
    # Held, not improved. Under `improve` that fails, except where improving is impossible: the baseline is
    # already at the metric's best value, or the candidate answers exactly as the baseline on every item.
    if _at_best(cand, b) and _at_best(cand, c):
        message = (
            f"{metric} stayed at its best possible value {format_metric(metric, c)}: the baseline is at the "
            "ceiling, where nothing can improve, so holding it passes under policy improve"
        )
        return Check("primary", metric, b, c, c - b, min_delta, True, message)
    if unchanged:
        message = (
            f"{moved}: the candidate's outputs equal the baseline's on every item, so there is nothing to improve "
            "and nothing lost; an unchanged answer passes under policy improve"
        )
        return Check("primary", metric, b, c, c - b, min_delta, True, message)
    hint = "; to release changes that hold the score, set `policy: no_regression` in the prompt's gate"
    return Check("primary", metric, b, c, c - b, min_delta, False, f"{moved} ({note}, not > {threshold}{hint})")


def _at_best(summary: MetricSummary, value: float) -> bool:
    """Return whether `value` is the best a metric can be: 1 for a BOOLEAN share, 0 for error_rate."""
    if summary.data_type == "BOOLEAN" and summary.higher_is_better:
        return value >= 1.0 - EPSILON
    if summary.name == "error_rate":
        return value <= EPSILON
    return False


def _pairs(candidate: ExperimentResult, baseline: ExperimentResult) -> list[tuple[ItemResult, ItemResult]]:
    """Return (baseline item, candidate item) for every (item_id, repeat) both runs have, in candidate order."""
    by_key = {(i.item_id, i.repeat): i for i in baseline.items}
    return [(by_key[(i.item_id, i.repeat)], i) for i in candidate.items if (i.item_id, i.repeat) in by_key]


def _significance_check(
    policy: GatePolicy, summary: MetricSummary, pairs: Sequence[tuple[ItemResult, ItemResult]], seed: int
) -> tuple[Check | None, SignificanceResult | None]:
    metric, alpha = policy.primary, policy.alpha
    if policy.significance == "none":
        return None, None
    if summary.data_type == "CATEGORICAL":
        message = f"significance skipped: {metric} is CATEGORICAL, so its items have no numeric values"
        return Check("significance", metric, None, None, None, alpha, True, message), None
    gains = []
    for base, cand in pairs:
        b, c = item_value(base, metric, summary), item_value(cand, metric, summary)
        if b is not None and c is not None:
            gains.append(_gain(b, c, summary.higher_is_better))
    result = sign_test(gains) if policy.significance == "sign" else paired_bootstrap(gains, seed=seed)
    name, p = TEST_NAMES[result.test], result.p_value
    counts = f"{result.wins} better, {result.losses} worse, {result.ties} tied of {result.n_pairs} paired items"
    if policy.policy == "no_regression":
        # The test asks "is the candidate better?"; no_regression does not require that, so it only informs.
        passed, message = True, f"{name} on {metric}: p = {p:.3g}, {counts}; informational under no_regression"
    else:
        passed = p < alpha
        verdict = f"significant ({name} p = {p:.3g} <" if passed else f"not significant ({name} p = {p:.3g} ≥"
        message = f"the {metric} improvement is {verdict} alpha {alpha:g}; {counts})"
    return Check("significance", metric, None, None, None, alpha, passed, message), result


def _guardrail_check(guardrail: Guardrail, base: MetricSummary | None, candidate: ExperimentResult) -> Check:
    metric, tolerance = guardrail.metric, guardrail.max_regression
    cand = candidate.metrics.get(metric)
    if cand is None or cand.mean is None:
        message = f"the candidate has no value for guardrail {metric}, so it cannot be checked"
        return Check("guardrail", metric, _mean(base), None, None, tolerance, False, message)
    if base is None or base.mean is None:
        # Like a missing baseline: there is nothing to regress from.
        message = f"the baseline has no value for guardrail {metric}, so there is nothing to regress from"
        return Check("guardrail", metric, None, cand.mean, None, tolerance, True, message)
    hib, b, c = cand.higher_is_better, base.mean, cand.mean
    passed = _gain(b, c, hib) >= -tolerance - EPSILON
    where = f"{'within' if passed else 'a regression beyond'} max_regression {format_metric(metric, tolerance)}"
    message = f"{_movement(metric, b, c, hib)} ({_delta_note(b, c, hib, metric)}, {where})"
    return Check("guardrail", metric, b, c, c - b, tolerance, passed, message)


def _floor_check(metric: str, floor: float, cand: MetricSummary | None) -> Check:
    if cand is None or cand.mean is None:
        message = (
            f"the candidate has no value for {metric}, so its floor {format_metric(metric, floor)} cannot be checked"
        )
        return Check("floor", metric, None, None, None, floor, False, message)
    value, shown, limit = cand.mean, format_metric(metric, cand.mean), format_metric(metric, floor)
    if cand.higher_is_better:
        passed = value >= floor - EPSILON
        message = f"{metric} {shown} {'meets' if passed else 'is below'} the floor {limit}"
    else:
        passed = value <= floor + EPSILON
        where = "is within" if passed else "exceeds"
        message = f"{metric} {shown} {where} the floor {limit} (a maximum: lower is better)"
    return Check("floor", metric, None, value, None, floor, passed, message)


def _item_change(old: ItemResult, new: ItemResult, b: float | None, c: float | None, metric: str) -> ItemChange:
    delta = None if b is None or c is None else c - b
    return ItemChange(
        new.item_id, new.repeat, new.input, new.expected_output, old.output, new.output, b, c, delta, new.error, metric
    )


def _worse_items(
    metric: str, summary: MetricSummary | None, pairs: Sequence[tuple[ItemResult, ItemResult]]
) -> tuple[ItemChange, ...]:
    """Return the paired items that got worse on `metric` or newly failed, the biggest drop first, then by id."""
    found: list[tuple[float | None, ItemChange]] = []
    higher_is_better = summary is None or summary.higher_is_better
    for base, cand in pairs:
        b, c = item_value(base, metric, summary), item_value(cand, metric, summary)
        drop = None if b is None or c is None else -_gain(b, c, higher_is_better)
        if (drop is not None and drop > EPSILON) or (cand.failed and not base.failed):
            found.append((drop, _item_change(base, cand, b, c, metric)))
    # Items without a numeric drop (CATEGORICAL or no latency) sort after the measured ones.
    found.sort(key=lambda f: (f[0] is None, -(f[0] or 0.0), f[1].item_id, f[1].repeat))
    return tuple(change for _, change in found)


def _metric_rows(candidate: ExperimentResult, baseline: ExperimentResult | None) -> tuple[MetricRow, ...]:
    base_metrics: Mapping[str, MetricSummary] = baseline.metrics if baseline else {}
    names = list(candidate.metrics) + [n for n in base_metrics if n not in candidate.metrics]
    rows = []
    for name in names:
        cand, base = candidate.metrics.get(name), base_metrics.get(name)
        c, b = _mean(cand), _mean(base)
        delta = None if c is None or b is None else c - b
        higher_is_better = cand.higher_is_better if cand is not None else base is None or base.higher_is_better
        rows.append(MetricRow(name, b, c, delta, higher_is_better))
    return tuple(rows)


def _reason(
    policy: GatePolicy, checks: Sequence[Check], significance: SignificanceResult | None, *, has_baseline: bool
) -> str:
    """Return the one sentence that says why the candidate passed or failed."""
    failed = [c for c in checks if not c.passed]
    floors = [c for c in checks if c.kind == "floor"]
    if failed:
        first = failed[0]
        floors_only = first.kind == "floor" and not has_baseline
        context = " (no production baseline yet, judged on floors only)" if floors_only else ""
        more = "" if len(failed) == 1 else f"; {len(failed) - 1} more check{'s' if len(failed) > 2 else ''} failed"
        return f"Candidate rejected: {first.message}{context}{more}."
    if not has_baseline:
        if not floors:
            return "Candidate passed: there is no production baseline yet and no floor is set, so nothing was compared."
        met = floors[0].message if len(floors) == 1 else f"all {len(floors)} floors were met"
        return f"Candidate passed on floors only (no production baseline yet): {met}."
    parts = [next(c.message for c in checks if c.kind == "primary")]
    if significance is not None and policy.policy == "improve":
        parts.append(
            f"the improvement is significant by the {TEST_NAMES[significance.test]} (p = {significance.p_value:.3g})"
        )
    if policy.guardrails:
        parts.append("no guardrail regressed")
    if floors:
        parts.append("every floor was met")
    joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"Candidate passed: {joined}."
