"""The gate: primary, guardrail and floor checks, significance tests, worse items and the one-sentence reason."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pytest

from promptops.evaluators.aggregate import MetricSummary, error_rate, summarize, summarize_latency
from promptops.evaluators.base import DataType, Score
from promptops.gate import judge
from promptops.model import GatePolicy, Guardrail
from promptops.results import ExperimentResult, ItemResult
from promptops.significance import paired_bootstrap, sign_test
from promptops.verdict import Check, ItemChange, MetricRow, SignificanceResult, format_value

LOWER_IS_BETTER = {"latency_p50", "latency_p95", "error_rate"}


def summary(name: str, mean: float | None, *, data_type: DataType = "NUMERIC") -> MetricSummary:
    return MetricSummary(name, data_type, 4, 0, mean, None, {}, name not in LOWER_IS_BETTER)


def run(
    means: Mapping[str, float | None] | None = None,
    *,
    items: Sequence[ItemResult] = (),
    subject: str = "working tree",
    seed: int = 0,
    model: str = "mock-llm-v1",
    stopped: str | None = None,
    metrics: Mapping[str, MetricSummary] | None = None,
) -> ExperimentResult:
    """Build a run from metric means (or ready summaries) and optional items."""
    summaries = dict(metrics or {}) | {name: summary(name, mean) for name, mean in (means or {}).items()}
    return ExperimentResult(
        "support-agent", subject, 1, "capitals", model, seed, tuple(items), summaries, "run-1", stopped
    )


def item(
    item_id: str,
    value: bool | float | str | None,
    *,
    repeat: int = 0,
    output: str | None = "answer",
    error: str | None = None,
    latency: float | None = 1.0,
    metric: str = "exact_match",
) -> ItemResult:
    """Build an item; value None means the item failed (no score, no output)."""
    if value is None:
        return ItemResult(item_id, repeat, {"q": item_id}, "Paris", None, error or "TaskError: boom", (), None)
    kind: DataType = "BOOLEAN" if isinstance(value, bool) else "CATEGORICAL" if isinstance(value, str) else "NUMERIC"
    score = Score(metric, value, kind)
    return ItemResult(item_id, repeat, {"q": item_id}, "Paris", output, error, (score,), latency)


def measured(items: Sequence[ItemResult], *, subject: str = "working tree", seed: int = 0) -> ExperimentResult:
    """Build a run whose metrics the real aggregate module computes from its items."""
    p50, p95 = summarize_latency([i.latency_s for i in items])
    metrics = {
        "exact_match": summarize("exact_match", [i.score("exact_match") for i in items], data_type="BOOLEAN"),
        "latency_p50": p50,
        "latency_p95": p95,
        "error_rate": error_rate(sum(i.failed for i in items), len(items)),
    }
    return run(items=items, subject=subject, seed=seed, metrics=metrics)


def base(means: Mapping[str, float | None], **kwargs: Any) -> ExperimentResult:
    return run(means, subject="version 3 (production)", **kwargs)


def only(checks: Sequence[Check], kind: str) -> Check:
    (found,) = [c for c in checks if c.kind == kind]
    return found


# --- primary metric -------------------------------------------------------------------------------------------


def test_improve_passes_when_strictly_better() -> None:
    verdict = judge(GatePolicy("exact_match"), run({"exact_match": 0.75}), base({"exact_match": 0.5}))
    assert verdict.passed
    assert verdict.reason == "Candidate passed: exact_match improved from 0.50 to 0.75 (+0.25 > min_delta 0.00)."
    assert verdict.checks == (
        Check(
            "primary",
            "exact_match",
            0.5,
            0.75,
            0.25,
            0.0,
            True,
            "exact_match improved from 0.50 to 0.75 (+0.25 > min_delta 0.00)",
        ),
    )


def test_improve_fails_on_an_equal_score() -> None:
    verdict = judge(GatePolicy("exact_match"), run({"exact_match": 0.5}), base({"exact_match": 0.5}))
    assert not verdict.passed
    assert verdict.reason == (
        "Candidate rejected: exact_match stayed at 0.50 (+0.00, not > min_delta 0.00; to release changes that hold "
        "the score, set `policy: no_regression` in the prompt's gate)."
    )


def test_no_regression_passes_on_an_equal_score_and_fails_below() -> None:
    policy = GatePolicy("exact_match", policy="no_regression")
    equal = judge(policy, run({"exact_match": 0.5}), base({"exact_match": 0.5}))
    assert equal.passed
    assert equal.reason == "Candidate passed: exact_match stayed at 0.50 (+0.00, within min_delta 0.00)."
    worse = judge(policy, run({"exact_match": 0.25}), base({"exact_match": 0.5}))
    assert not worse.passed
    assert worse.reason == (
        "Candidate rejected: exact_match fell from 0.50 to 0.25 (-0.25, a regression beyond min_delta 0.00)."
    )


def test_the_briefs_examples() -> None:
    policy = GatePolicy("exact_match", guardrails=(Guardrail("error_rate", 0.0),))
    up = judge(policy, run({"exact_match": 1.0, "error_rate": 0.0}), base({"exact_match": 0.0, "error_rate": 0.0}))
    assert up.reason == (
        "Candidate passed: exact_match improved from 0.00 to 1.00 (+1.00 > min_delta 0.00) and no guardrail regressed."
    )
    down = judge(policy, run({"exact_match": 0.0, "error_rate": 0.0}), base({"exact_match": 1.0, "error_rate": 0.0}))
    assert down.reason == "Candidate rejected: exact_match fell from 1.00 to 0.00 (-1.00)."


@pytest.mark.parametrize(
    ("policy", "baseline", "candidate", "min_delta", "passed"),
    [
        ("improve", 0.5, 0.6, 0.1, False),  # exactly min_delta (0.6 - 0.5 is 0.0999… in floats): not more
        ("improve", 0.5, 0.61, 0.1, True),
        ("improve", 0.5, 0.55, 0.1, False),
        ("no_regression", 0.8, 0.7, 0.1, True),  # exactly min_delta down (0.7 - 0.8 is -0.1000…09 in floats)
        ("no_regression", 0.8, 0.69, 0.1, False),
    ],
)
def test_min_delta_boundaries(
    policy: Literal["improve", "no_regression"], baseline: float, candidate: float, min_delta: float, passed: bool
) -> None:
    gate = GatePolicy("exact_match", policy=policy, min_delta=min_delta)
    assert judge(gate, run({"exact_match": candidate}), base({"exact_match": baseline})).passed is passed


def test_improve_below_min_delta_says_so() -> None:
    verdict = judge(GatePolicy("exact_match", min_delta=0.1), run({"exact_match": 0.55}), base({"exact_match": 0.5}))
    assert verdict.reason == (
        "Candidate rejected: exact_match improved from 0.50 to 0.55 (+0.05, not > min_delta 0.10; to release "
        "changes that hold the score, set `policy: no_regression` in the prompt's gate)."
    )


def test_lower_is_better_primary() -> None:
    policy = GatePolicy("latency_p95")
    faster = judge(policy, run({"latency_p95": 1.5}), base({"latency_p95": 2.0}))
    assert faster.passed
    assert faster.reason == (
        "Candidate passed: latency_p95 improved from 2000.0 ms to 1500.0 ms (-500.0 ms, lower is better; gain "
        "500.0 ms > min_delta 0.0 ms)."
    )
    slower = judge(policy, run({"latency_p95": 2.0}), base({"latency_p95": 1.5}))
    assert not slower.passed
    assert slower.reason == (
        "Candidate rejected: latency_p95 rose from 1500.0 ms to 2000.0 ms (+500.0 ms, lower is better)."
    )
    assert judge(GatePolicy("error_rate"), run({"error_rate": 0.0}), base({"error_rate": 0.25})).passed
    fewer_errors = GatePolicy("error_rate", policy="no_regression", min_delta=0.1)
    assert judge(fewer_errors, run({"error_rate": 0.3}), base({"error_rate": 0.25})).passed
    assert not judge(fewer_errors, run({"error_rate": 0.4}), base({"error_rate": 0.25})).passed


def test_missing_primary_metric_fails() -> None:
    verdict = judge(GatePolicy("exact_match"), run({"contains": 1.0}), base({"exact_match": 0.5}))
    assert not verdict.passed
    assert verdict.reason == "Candidate rejected: the candidate has no exact_match metric, so it cannot be judged."
    assert judge(GatePolicy("exact_match"), run({"contains": 1.0}), None).reason == verdict.reason


def test_primary_metric_without_a_value_fails() -> None:
    feedback = {"user_feedback": summary("user_feedback", None, data_type="CATEGORICAL")}
    verdict = judge(GatePolicy("user_feedback"), run(metrics=feedback), base({}, metrics=feedback))
    assert verdict.reason == (
        "Candidate rejected: the candidate has no user_feedback value (4 scored, 0 failed items), "
        "so it cannot be judged."
    )


def test_baseline_without_the_primary_metric_fails() -> None:
    verdict = judge(GatePolicy("exact_match"), run({"exact_match": 1.0}), base({"contains": 1.0}))
    assert verdict.reason == (
        "Candidate rejected: the baseline has no value for exact_match, so the candidate cannot be compared."
    )


# --- the run --------------------------------------------------------------------------------------------------


def test_stopped_candidate_run_fails() -> None:
    candidate = run({"exact_match": 1.0}, stopped="failure threshold: 3 of 4 items failed")
    verdict = judge(GatePolicy("exact_match"), candidate, base({"exact_match": 0.0}))
    assert not verdict.passed
    assert (
        verdict.reason
        == "Candidate rejected: the candidate run stopped early (failure threshold: 3 of 4 items failed)."
    )
    assert judge(GatePolicy("exact_match"), candidate, None).reason == verdict.reason


def test_stopped_baseline_is_compared_as_recorded() -> None:
    verdict = judge(GatePolicy("exact_match"), run({"exact_match": 1.0}), base({"exact_match": 0.0}, stopped="timeout"))
    assert verdict.passed
    assert only(verdict.checks, "run") == Check(
        "run", None, None, None, None, None, True, "the baseline run stopped early (timeout); compared as recorded"
    )


def test_runs_on_different_setups_are_not_compared() -> None:
    verdict = judge(GatePolicy("exact_match"), run({"exact_match": 1.0}, seed=7), base({"exact_match": 0.0}))
    assert verdict.reason == (
        "Candidate rejected: the baseline ran on dataset capitals, model mock-llm-v1, seed 0 but the candidate on "
        "dataset capitals, model mock-llm-v1, seed 7, so they are not comparable."
    )


def test_every_failure_is_counted_in_the_reason() -> None:
    policy = GatePolicy("exact_match", guardrails=(Guardrail("error_rate"),), floors={"exact_match": 0.9})
    candidate = run({"exact_match": 0.0, "error_rate": 0.5}, stopped="interrupted")
    verdict = judge(policy, candidate, base({"exact_match": 1.0, "error_rate": 0.0}))
    assert [c.kind for c in verdict.checks if not c.passed] == ["run", "primary", "guardrail", "floor"]
    assert verdict.reason == "Candidate rejected: the candidate run stopped early (interrupted); 3 more checks failed."


# --- guardrails and floors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "baseline", "candidate", "tolerance", "passed"),
    [
        ("latency_p95", 1.0, 1.2, 0.2, True),  # exactly at the tolerance (1.2 - 1.0 is 0.19999… in floats)
        ("latency_p95", 1.0, 1.3, 0.2, False),
        ("latency_p95", 1.0, 0.5, 0.0, True),
        ("groundedness", 0.9, 0.85, 0.05, True),
        ("groundedness", 0.9, 0.8, 0.05, False),
        ("groundedness", 0.9, 0.95, 0.0, True),
    ],
)
def test_guardrail_tolerance(metric: str, baseline: float, candidate: float, tolerance: float, passed: bool) -> None:
    policy = GatePolicy("exact_match", guardrails=(Guardrail(metric, tolerance),))
    verdict = judge(policy, run({"exact_match": 1.0, metric: candidate}), base({"exact_match": 0.0, metric: baseline}))
    assert only(verdict.checks, "guardrail").passed is passed
    assert verdict.passed is passed


def test_guardrail_messages() -> None:
    policy = GatePolicy("exact_match", guardrails=(Guardrail("latency_p95", 0.2), Guardrail("groundedness", 0.05)))
    candidate = run({"exact_match": 1.0, "latency_p95": 1.5, "groundedness": 0.88})
    verdict = judge(policy, candidate, base({"exact_match": 0.0, "latency_p95": 1.0, "groundedness": 0.9}))
    assert [c.message for c in verdict.checks if c.kind == "guardrail"] == [
        "latency_p95 rose from 1000.0 ms to 1500.0 ms (+500.0 ms, lower is better, a regression beyond "
        "max_regression 200.0 ms)",
        "groundedness fell from 0.90 to 0.88 (-0.02, within max_regression 0.05)",
    ]
    assert verdict.reason == (
        "Candidate rejected: latency_p95 rose from 1000.0 ms to 1500.0 ms (+500.0 ms, lower is better, a "
        "regression beyond max_regression 200.0 ms)."
    )


def test_guardrail_without_values() -> None:
    policy = GatePolicy("exact_match", guardrails=(Guardrail("latency_p95"),))
    no_baseline_value = judge(policy, run({"exact_match": 1.0, "latency_p95": 2.0}), base({"exact_match": 0.0}))
    assert no_baseline_value.passed
    no_candidate_value = judge(policy, run({"exact_match": 1.0}), base({"exact_match": 0.0, "latency_p95": 2.0}))
    assert no_candidate_value.reason == (
        "Candidate rejected: the candidate has no value for guardrail latency_p95, so it cannot be checked."
    )


def test_floors_with_a_baseline() -> None:
    policy = GatePolicy("exact_match", floors={"exact_match": 0.8, "error_rate": 0.1})
    verdict = judge(policy, run({"exact_match": 0.75, "error_rate": 0.25}), base({"exact_match": 0.5, "error_rate": 0}))
    assert [(c.message, c.passed) for c in verdict.checks if c.kind == "floor"] == [
        ("exact_match 0.75 is below the floor 0.80", False),
        ("error_rate 0.25 exceeds the floor 0.10 (a maximum: lower is better)", False),
    ]
    assert verdict.reason == "Candidate rejected: exact_match 0.75 is below the floor 0.80; 1 more check failed."
    met = judge(policy, run({"exact_match": 0.8, "error_rate": 0.1}), base({"exact_match": 0.5, "error_rate": 0}))
    assert met.reason == (
        "Candidate passed: exact_match improved from 0.50 to 0.80 (+0.30 > min_delta 0.00) and every floor was met."
    )


def test_no_baseline_is_judged_on_floors_only() -> None:
    policy = GatePolicy("exact_match", floors={"exact_match": 0.5})
    verdict = judge(policy, run({"exact_match": 0.2, "latency_p95": 1.0}), None)
    assert not verdict.passed
    assert verdict.reason == (
        "Candidate rejected: exact_match 0.20 is below the floor 0.50 "
        "(no production baseline yet, judged on floors only)."
    )
    assert verdict.checks[0] == Check(
        "primary",
        "exact_match",
        None,
        0.2,
        None,
        None,
        True,
        "no production baseline yet, so exact_match (0.20) is not compared",
    )
    assert (verdict.baseline_subject, verdict.worse_items, verdict.significance) == (None, (), None)
    assert verdict.metrics == (
        MetricRow("exact_match", None, 0.2, None, True),
        MetricRow("latency_p95", None, 1.0, None, False),
    )
    one = judge(policy, run({"exact_match": 0.5}), None)
    assert (
        one.reason
        == "Candidate passed on floors only (no production baseline yet): exact_match 0.50 meets the floor 0.50."
    )
    two = judge(
        GatePolicy("exact_match", floors={"exact_match": 0.5, "error_rate": 0.1}),
        run({"exact_match": 0.9, "error_rate": 0.0}),
        None,
    )
    assert two.reason == "Candidate passed on floors only (no production baseline yet): all 2 floors were met."
    none = judge(GatePolicy("exact_match", significance="sign"), run({"exact_match": 0.0}), None)
    assert none.passed
    assert none.reason == (
        "Candidate passed: there is no production baseline yet and no floor is set, so nothing was compared."
    )


# --- significance ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gains", "expected"),
    [
        ([1.0] * 8, SignificanceResult("sign", 8, 2 / 256, 8, 0, 0)),
        ([-1.0] * 8, SignificanceResult("sign", 8, 2 / 256, 0, 8, 0)),
        ([1.0] * 5 + [-0.5], SignificanceResult("sign", 6, 14 / 64, 5, 1, 0)),  # 2 * (C(6,0) + C(6,1)) / 2^6
        ([1.0, 1.0, 0.0, 0.0], SignificanceResult("sign", 4, 0.5, 2, 0, 2)),  # ties are dropped: 2 * 1/4
        ([1.0, -1.0], SignificanceResult("sign", 2, 1.0, 1, 1, 0)),
        ([], SignificanceResult("sign", 0, 1.0, 0, 0, 0)),
    ],
)
def test_sign_test_exact_p_values(gains: list[float], expected: SignificanceResult) -> None:
    assert sign_test(gains) == expected


def test_sign_test_gates_the_improvement() -> None:
    policy = GatePolicy("exact_match", significance="sign")
    eight = [item(f"q{i}", False) for i in range(8)], [item(f"q{i}", True) for i in range(8)]
    verdict = judge(policy, measured(eight[1]), measured(eight[0], subject="version 3 (production)"))
    assert verdict.significance == SignificanceResult("sign", 8, 0.0078125, 8, 0, 0)
    assert verdict.reason == (
        "Candidate passed: exact_match improved from 0.00 to 1.00 (+1.00 > min_delta 0.00) and the improvement is "
        "significant by the sign test (p = 0.00781)."
    )
    four = [item(f"q{i}", False) for i in range(4)], [item(f"q{i}", True) for i in range(4)]
    verdict = judge(policy, measured(four[1]), measured(four[0]))
    assert not verdict.passed
    assert verdict.reason == (
        "Candidate rejected: the exact_match improvement is not significant (sign test p = 0.125 ≥ alpha 0.05; "
        "4 better, 0 worse, 0 tied of 4 paired items)."
    )
    assert judge(GatePolicy("exact_match"), measured(four[1]), measured(four[0])).passed  # plain comparison


def test_sign_test_pairs_by_item_and_repeat() -> None:
    baseline = [item("a", False, repeat=0), item("a", True, repeat=1), item("gone", False)]
    candidate = [item("a", True, repeat=1), item("a", True, repeat=0), item("new", True)]
    verdict = judge(GatePolicy("exact_match", significance="sign", alpha=1.0), measured(candidate), measured(baseline))
    assert verdict.significance == SignificanceResult("sign", 2, 1.0, 1, 0, 1)


def test_bootstrap_is_deterministic() -> None:
    gains = [1.0, 1.0, -1.0, 0.0, 1.0, 0.0, 1.0, -1.0]
    assert paired_bootstrap(gains, seed=0) == SignificanceResult("bootstrap", 8, 0.2565, 4, 2, 2)
    assert paired_bootstrap(gains, seed=0) == paired_bootstrap(gains, seed=0)
    assert paired_bootstrap(gains, seed=1).p_value == 0.2525
    assert paired_bootstrap([0.5] * 3, seed=0).p_value == 0.0
    assert paired_bootstrap([0.0, 0.0], seed=0).p_value == 1.0  # a mean difference of 0 is not an improvement
    assert paired_bootstrap([], seed=0).p_value == 1.0


def test_bootstrap_uses_the_candidates_seed() -> None:
    values = [(True, True), (False, True), (True, False), (False, True), (False, True), (True, True)]
    baseline = measured([item(f"q{i}", b) for i, (b, _) in enumerate(values)], seed=5)
    candidate = measured([item(f"q{i}", c) for i, (_, c) in enumerate(values)], seed=5)
    verdict = judge(GatePolicy("exact_match", significance="bootstrap"), candidate, baseline)
    assert verdict.significance == paired_bootstrap([0.0, 1.0, -1.0, 1.0, 1.0, 0.0], seed=5)
    assert verdict.passed is (verdict.significance is not None and verdict.significance.p_value < 0.05)


def test_significance_is_skipped_for_categorical_metrics() -> None:
    feedback = [item("q1", "positive", metric="user_feedback")]
    metrics = {"user_feedback": summary("user_feedback", 1.0, data_type="CATEGORICAL")}
    baseline = run(items=feedback, metrics={"user_feedback": summary("user_feedback", 0.5, data_type="CATEGORICAL")})
    verdict = judge(GatePolicy("user_feedback", significance="sign"), run(items=feedback, metrics=metrics), baseline)
    assert verdict.passed
    assert verdict.significance is None
    assert only(verdict.checks, "significance").message == (
        "significance skipped: user_feedback is CATEGORICAL, so its items have no numeric values"
    )


def test_significance_only_informs_under_no_regression() -> None:
    same = [item(f"q{i}", True) for i in range(3)]
    verdict = judge(
        GatePolicy("exact_match", policy="no_regression", significance="sign"), measured(same), measured(same)
    )
    assert verdict.passed
    assert only(verdict.checks, "significance").message == (
        "sign test on exact_match: p = 1, 0 better, 0 worse, 3 tied of 3 paired items; "
        "informational under no_regression"
    )


# --- worse items, metric rows, serialisation ------------------------------------------------------------------


def test_worse_items_sorted_by_drop_then_id() -> None:
    baseline = [
        item("a", 1.0, output="A0"),
        item("b", 1.0, output="B0"),
        item("c", 0.8),
        item("d", 0.5),
        item("e", 0.0, output="E0"),
        item("f", None),
        item("g", 0.4),
    ]
    candidate = [
        item("g", 0.4),
        item("f", None),
        item("e", None, error="TimeoutError: 60s"),
        item("d", 0.9),
        item("c", 0.3),
        item("b", 0.0, output="B1"),
        item("a", 0.5, output="A1"),
    ]
    verdict = judge(
        GatePolicy("exact_match", policy="no_regression", min_delta=1.0),
        run({"exact_match": 0.0}, items=candidate),
        base({"exact_match": 0.0}, items=baseline),
    )
    assert [(i.item_id, i.delta) for i in verdict.worse_items] == [("b", -1.0), ("a", -0.5), ("c", -0.5), ("e", 0.0)]
    assert verdict.worse_items[0] == ItemChange(
        "b", 0, {"q": "b"}, "Paris", "B0", "B1", 1.0, 0.0, -1.0, None, "exact_match"
    )
    assert verdict.worse_items[3] == ItemChange(
        "e", 0, {"q": "e"}, "Paris", "E0", None, 0.0, 0.0, 0.0, "TimeoutError: 60s", "exact_match"
    )


def test_worse_items_for_lower_is_better_and_categorical_metrics() -> None:
    baseline = [item("a", True, latency=1.0), item("b", True, latency=1.0), item("c", True, latency=2.0)]
    candidate = [item("a", True, latency=3.0), item("b", True, latency=0.5), item("c", None)]
    verdict = judge(
        GatePolicy("latency_p95"),
        run({"latency_p95": 1.0}, items=candidate),
        base({"latency_p95": 2.0}, items=baseline),
    )
    assert [(i.item_id, i.baseline_value, i.candidate_value) for i in verdict.worse_items] == [
        ("a", 1.0, 3.0),
        ("c", 2.0, None),  # failed: no latency, so no measured drop; listed after the measured ones
    ]
    cats = [item("x", None), item("y", "negative", metric="user_feedback")]
    metrics = {"user_feedback": summary("user_feedback", 0.5, data_type="CATEGORICAL")}
    verdict = judge(
        GatePolicy("user_feedback", policy="no_regression"),
        run(items=cats, metrics=metrics),
        run(
            items=[item("x", "positive", metric="user_feedback"), item("y", "positive", metric="user_feedback")],
            metrics=metrics,
        ),
    )
    assert [(i.item_id, i.delta) for i in verdict.worse_items] == [("x", None)]


def test_metric_rows_side_by_side() -> None:
    verdict = judge(
        GatePolicy("exact_match"),
        run({"exact_match": 1.0, "error_rate": 0.0}),
        base({"exact_match": 0.5, "contains": 1.0}),
    )
    assert verdict.metrics == (
        MetricRow("exact_match", 0.5, 1.0, 0.5, True),
        MetricRow("error_rate", None, 0.0, None, False),
        MetricRow("contains", 1.0, None, None, True),
    )
    assert (verdict.baseline_subject, verdict.candidate_subject) == ("version 3 (production)", "working tree")
    assert (verdict.prompt, verdict.primary, verdict.dataset, verdict.model, verdict.seed) == (
        "support-agent",
        "exact_match",
        "capitals",
        "mock-llm-v1",
        0,
    )


def test_to_dict_is_json_ready() -> None:
    baseline = measured([item("q1", True), item("q2", True)], subject="version 3 (production)")
    candidate = measured([item("q1", True), item("q2", None)])
    data = judge(GatePolicy("exact_match", significance="sign"), candidate, baseline).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["worse_items"][0]["input"] == {"q": "q2"}
    assert data["significance"] == {"test": "sign", "n_pairs": 2, "p_value": 1.0, "wins": 0, "losses": 1, "ties": 1}
    assert data["checks"][0]["kind"] == "primary"
    assert list(data) == [
        "prompt",
        "passed",
        "reason",
        "primary",
        "checks",
        "metrics",
        "worse_items",
        "significance",
        "baseline_subject",
        "candidate_subject",
        "dataset",
        "model",
        "seed",
        "cost",
        "statistics",
        "notes",
    ]


@pytest.mark.parametrize(
    ("value", "signed", "text"),
    [
        (None, False, "—"),
        (0.5, False, "0.50"),
        (0.25, True, "+0.25"),
        (-1.0, True, "-1.00"),
        (1e-12, True, "+0.00"),
        (-0.0, True, "+0.00"),
        (0.004, True, "+0.004"),
        (0.00012345, False, "0.00012"),
        (12.345, False, "12.35"),
    ],
)
def test_format_value(value: float | None, signed: bool, text: str) -> None:
    assert format_value(value, signed=signed) == text


# --- what an `improve` gate does at a ceiling, evaluator errors, worse items on every failed metric ---------


def two_metric_items(values: Sequence[tuple[str, bool, bool]], output: str = "answer") -> list[ItemResult]:
    """Items scored on exact_match and mentions_capital (BOOLEAN)."""
    return [
        ItemResult(
            i, 0, {"q": i}, "Paris", output, None,
            (Score("exact_match", em, "BOOLEAN"), Score("mentions_capital", mc, "BOOLEAN")), 1.0,
        )
        for i, em, mc in values
    ]  # fmt: skip


def measured_two(items: Sequence[ItemResult], subject: str = "working tree") -> ExperimentResult:
    metrics = {
        name: summarize(name, [i.score(name) for i in items], data_type="BOOLEAN")
        for name in ("exact_match", "mentions_capital")
    }
    return run(items=items, subject=subject, metrics=metrics)


def test_improve_at_the_ceiling_passes_when_the_candidate_holds_it() -> None:
    perfect = measured_two(two_metric_items([("a", True, True), ("b", True, True)]))
    baseline = measured_two(two_metric_items([("a", True, True), ("b", True, True)], output="other"), "v1")
    verdict = judge(GatePolicy("exact_match"), perfect, baseline)
    assert verdict.passed
    assert verdict.reason == (
        "Candidate passed: exact_match stayed at its best possible value 1.00: the baseline is at the ceiling, where "
        "nothing can improve, so holding it passes under policy improve."
    )


def test_improve_passes_an_unchanged_answer_on_every_item_and_names_no_regression_otherwise() -> None:
    items = two_metric_items([("a", True, True), ("b", False, True)])
    same = judge(GatePolicy("exact_match"), measured_two(items), measured_two(items, "v1"))
    assert same.passed
    assert same.checks[0].message == (
        "exact_match stayed at 0.50: the candidate's outputs equal the baseline's on every item, so there is nothing "
        "to improve and nothing lost; an unchanged answer passes under policy improve"
    )
    other = two_metric_items([("a", True, True), ("b", False, True)], output="reworded")
    held = judge(GatePolicy("exact_match"), measured_two(other), measured_two(items, "v1"))
    assert not held.passed
    assert "set `policy: no_regression` in the prompt's gate" in held.reason


def test_items_that_got_worse_are_listed_for_every_failed_check() -> None:
    # The case: grounding drops mentions_capital on every item while exact_match stays at 0.
    baseline = measured_two(two_metric_items([("a", False, True), ("b", False, True)]), "v1")
    candidate = measured_two(two_metric_items([("a", False, False), ("b", False, False)], output="I don't know"))
    policy = GatePolicy("exact_match", guardrails=(Guardrail("mentions_capital"),), floors={"mentions_capital": 0.8})
    verdict = judge(policy, candidate, baseline)
    assert not verdict.passed
    assert [(i.metric, i.item_id, i.delta) for i in verdict.worse_items] == [
        ("mentions_capital", "a", -1.0),
        ("mentions_capital", "b", -1.0),
    ]


def test_an_evaluator_that_raised_is_named_with_its_count_and_masked_error() -> None:
    key = "sk-lf-" + "0123456789abcdef"
    failed = [
        ItemResult(i, 0, {"q": i}, "Paris", "Paris", f"evaluator error: mentions_capital: ValueError: bad {key}")
        for i in ("a", "b", "c")
    ]
    candidate = measured_two([*failed, *two_metric_items([("d", True, True)])])
    verdict = judge(GatePolicy("exact_match", floors={"mentions_capital": 0.8}), candidate, None)
    assert not verdict.passed
    assert (verdict.checks[0].kind, verdict.checks[0].passed) == ("run", False)
    assert verdict.reason.startswith(
        "Candidate rejected: evaluator mentions_capital failed on 3 of 4 items (ValueError: bad [REDACTED Langfuse "
        "secret key]): a score it could not compute counts as a failed item, so fix the evaluator before judging"
    )
    assert key not in verdict.reason + " ".join(c.message for c in verdict.checks)
