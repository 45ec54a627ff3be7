"""Aggregates the gate reads: means, pass rates, distributions, latency percentiles and the error rate."""

from __future__ import annotations

import pytest

from promptops.evaluators import Score
from promptops.evaluators.aggregate import (
    MetricSummary,
    error_rate,
    percentile,
    summarize,
    summarize_latency,
)

FEEDBACK = {"positive": 1.0, "neutral": 0.5, "negative": 0.0}


def b(value: bool) -> Score:
    return Score("acc", value, "BOOLEAN")


def num(value: float) -> Score:
    return Score("grounded", value, "NUMERIC")


def cat(value: str) -> Score:
    return Score("user_feedback", value, "CATEGORICAL")


def test_empty_run_has_no_mean() -> None:
    assert summarize("acc", []) == MetricSummary("acc", "NUMERIC", 0, 0, None, None, {})
    assert summarize("acc", [], data_type="BOOLEAN", threshold=0.5) == MetricSummary(
        "acc", "BOOLEAN", 0, 0, None, None, {}
    )


def test_boolean_counts_failed_items_as_false() -> None:
    assert summarize("acc", [b(True), b(False), b(True), None]) == MetricSummary("acc", "BOOLEAN", 3, 1, 0.5, 0.5, {})


def test_boolean_ignores_mapping_and_threshold() -> None:
    summary = summarize("acc", [b(True), b(False)], mapping={"True": 5.0}, threshold=0.9)
    assert (summary.mean, summary.pass_rate) == (0.5, 0.5)


def test_all_failed_boolean_scores_zero() -> None:
    assert summarize("acc", [None, None], data_type="BOOLEAN") == MetricSummary("acc", "BOOLEAN", 0, 2, 0.0, 0.0, {})


def test_all_failed_numeric_scores_zero_and_never_passes() -> None:
    assert summarize("grounded", [None, None]) == MetricSummary("grounded", "NUMERIC", 0, 2, 0.0, None, {})
    assert summarize("grounded", [None], threshold=0.0).pass_rate == 0.0


def test_numeric_mean_and_threshold_pass_rate() -> None:
    scores = [num(1.0), num(0.5), None, num(0.5)]
    assert summarize("grounded", scores) == MetricSummary("grounded", "NUMERIC", 3, 1, 0.5, None, {})
    assert summarize("grounded", scores, threshold=0.5).pass_rate == 0.75
    assert summarize("grounded", scores, threshold=0.6).pass_rate == 0.25


def test_numeric_failed_item_never_passes_a_zero_threshold() -> None:
    assert summarize("grounded", [num(0.0), None], threshold=0).pass_rate == 0.5


def test_categorical_distribution_without_mapping_has_no_mean() -> None:
    scores = [cat("positive"), cat("negative"), cat("positive"), cat("neutral"), None]
    assert summarize("user_feedback", scores) == MetricSummary(
        "user_feedback", "CATEGORICAL", 4, 1, None, None, {"negative": 1, "neutral": 1, "positive": 2}
    )


def test_categorical_mean_through_mapping_counts_failures_as_the_lowest_value() -> None:
    scores = [cat("positive"), cat("negative"), cat("positive"), cat("neutral"), None]
    summary = summarize("user_feedback", scores, mapping=FEEDBACK, threshold=0.5)
    assert summary == MetricSummary(
        "user_feedback", "CATEGORICAL", 4, 1, 0.5, 0.6, {"negative": 1, "neutral": 1, "positive": 2}
    )
    shifted = summarize("user_feedback", [cat("positive"), None], mapping={"positive": 3, "negative": -1})
    assert shifted.mean == 1.0


def test_all_failed_categorical() -> None:
    assert summarize("user_feedback", [None], data_type="CATEGORICAL") == MetricSummary(
        "user_feedback", "CATEGORICAL", 0, 1, None, None, {}
    )
    assert summarize("user_feedback", [None], data_type="CATEGORICAL", mapping=FEEDBACK).mean == 0.0


def test_categorical_without_a_mapping_value_is_an_error() -> None:
    with pytest.raises(ValueError, match="scores for 'user_feedback': no mapping value for 'great'"):
        summarize("user_feedback", [cat("great"), cat("positive")], mapping=FEEDBACK)


def test_mixed_data_types_are_an_error() -> None:
    with pytest.raises(ValueError, match="scores for 'x' mix data types: BOOLEAN, NUMERIC"):
        summarize("x", [b(True), num(1.0)])


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 50, None),
        ([7.0], 0, 7.0),
        ([7.0], 95, 7.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
        ([4.0, 1.0, 3.0, 2.0], 50, 2.5),
        ([1.0, 2.0, 3.0, 4.0], 0, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 100, 4.0),
        ([10.0, 20.0], 25, 12.5),
        ([1.0, 2.0, 3.0], 50, 2.0),
    ],
)
def test_percentile_interpolates_linearly(values: list[float], q: float, expected: float | None) -> None:
    assert percentile(values, q) == expected


def test_percentile_95() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == pytest.approx(3.85)


@pytest.mark.parametrize("q", [-1, 100.5])
def test_percentile_rejects_q_outside_0_to_100(q: float) -> None:
    with pytest.raises(ValueError, match="within 0..100"):
        percentile([1.0], q)


def test_latency_percentiles_skip_items_without_a_latency() -> None:
    p50, p95 = summarize_latency([0.4, None, 0.2, 0.3, 0.1])
    assert p50 == MetricSummary("latency_p50", "NUMERIC", 4, 1, 0.25, None, {}, higher_is_better=False)
    assert (p95.name, p95.n, p95.missing, p95.higher_is_better) == ("latency_p95", 4, 1, False)
    assert p95.mean == pytest.approx(0.385)


def test_latency_of_an_empty_run() -> None:
    assert summarize_latency([None]) == (
        MetricSummary("latency_p50", "NUMERIC", 0, 1, None, None, {}, False),
        MetricSummary("latency_p95", "NUMERIC", 0, 1, None, None, {}, False),
    )


def test_error_rate() -> None:
    assert error_rate(1, 4) == MetricSummary("error_rate", "NUMERIC", 4, 0, 0.25, None, {}, False)
    assert error_rate(0, 0).mean is None


@pytest.mark.parametrize(("failed", "total"), [(5, 4), (-1, 3)])
def test_error_rate_rejects_impossible_counts(failed: int, total: int) -> None:
    with pytest.raises(ValueError, match="0 <= n_failed <= n_total"):
        error_rate(failed, total)


def test_summary_to_dict() -> None:
    summary = summarize("user_feedback", [cat("positive")], mapping=FEEDBACK)
    assert summary.to_dict() == {
        "name": "user_feedback",
        "data_type": "CATEGORICAL",
        "n": 1,
        "missing": 0,
        "mean": 1.0,
        "pass_rate": None,
        "distribution": {"positive": 1},
        "higher_is_better": True,
    }
