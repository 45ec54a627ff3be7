"""Aggregates over an experiment's items: the metrics the gate compares.

A failed item (no score: the task or the evaluator raised) is never dropped. It is counted in `missing`
and also counts against the mean and pass rate as the worst value (0 / False, or the lowest mapped
category), so failures can never raise a metric.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from promptops.evaluators.base import DataType, Score


@dataclass(frozen=True)
class MetricSummary:
    """One metric over all items of a run."""

    name: str
    data_type: DataType
    n: int  # items with a score
    missing: int  # items without one because they failed
    mean: float | None  # None when there is nothing to average
    pass_rate: float | None
    distribution: Mapping[str, int] = field(default_factory=dict)  # CATEGORICAL counts, by category
    higher_is_better: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "name": self.name,
            "data_type": self.data_type,
            "n": self.n,
            "missing": self.missing,
            "mean": self.mean,
            "pass_rate": self.pass_rate,
            "distribution": dict(self.distribution),
            "higher_is_better": self.higher_is_better,
        }


def _data_type(name: str, scores: Sequence[Score], default: DataType) -> DataType:
    types = {s.data_type for s in scores}
    if len(types) > 1:
        raise ValueError(f"scores for {name!r} mix data types: {', '.join(sorted(types))}")
    return types.pop() if types else default


def _as_numbers(
    name: str, data_type: DataType, scores: Sequence[Score], mapping: Mapping[str, float] | None
) -> list[float] | None:
    """Return each score as a number (BOOLEAN 1/0, CATEGORICAL through mapping), or None without a mapping."""
    if data_type != "CATEGORICAL":
        return [float(s.value) for s in scores]
    if mapping is None:
        return None
    unmapped = sorted({str(s.value) for s in scores} - set(mapping))
    if unmapped:
        raise ValueError(f"scores for {name!r}: no mapping value for {', '.join(map(repr, unmapped))}")
    return [float(mapping[str(s.value)]) for s in scores]


def summarize(
    name: str,
    scores: Sequence[Score | None],
    *,
    mapping: Mapping[str, float] | None = None,
    threshold: float | None = None,
    data_type: DataType | None = None,
) -> MetricSummary:
    """Summarize one evaluator's scores over all items; None marks a failed item.

    mean: NUMERIC the mean value; BOOLEAN the share True; CATEGORICAL the mean of `mapping` (None
    without one). pass_rate: BOOLEAN the share True; otherwise, with `threshold`, the share of values
    >= threshold. Both divide by all items, failed ones included as 0 / False (CATEGORICAL: the lowest
    mapped value; never passing), so failures cannot raise a metric. An empty run gives None for both.
    `data_type` is the evaluator's, used only when no item has a score (NUMERIC if not given).
    Raises ValueError when the scores mix data types or a category has no mapping value.
    """
    present = [s for s in scores if s is not None]
    missing = len(scores) - len(present)
    kind = _data_type(name, present, data_type or "NUMERIC")
    distribution: dict[str, int] = {}
    if kind == "CATEGORICAL":
        distribution = dict(sorted(Counter(str(s.value) for s in present).items()))
    numbers = _as_numbers(name, kind, present, mapping)
    mean = pass_rate = None
    if numbers is not None and scores:
        worst = min(mapping.values(), default=0.0) if kind == "CATEGORICAL" and mapping is not None else 0.0
        mean = (sum(numbers) + worst * missing) / len(scores)
        if kind == "BOOLEAN":
            pass_rate = mean
        elif threshold is not None:
            pass_rate = sum(v >= threshold for v in numbers) / len(scores)
    return MetricSummary(name, kind, len(present), missing, mean, pass_rate, distribution)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Return the q-th percentile (0..100) with linear interpolation between closest ranks; None if empty.

    The rank is q/100 * (n - 1) over the sorted values, as numpy's default ("linear") method computes it:
    percentile([1, 2, 3, 4], 50) == 2.5 and percentile([1, 2, 3, 4], 95) is 3.85 (to float precision).
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be within 0..100, got {q}")
    ordered = sorted(values)
    if not ordered:
        return None
    rank = q / 100 * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize_latency(latencies: Sequence[float | None]) -> tuple[MetricSummary, MetricSummary]:
    """Return latency_p50 and latency_p95 (seconds, in `mean`) over the items that have a latency.

    None marks an item without one (it failed before completing): it is counted in `missing` only, since
    a made-up latency would move the percentiles either way. Lower is better.
    """
    measured = [x for x in latencies if x is not None]
    missing = len(latencies) - len(measured)
    p50, p95 = (
        MetricSummary(name, "NUMERIC", len(measured), missing, percentile(measured, q), None, {}, False)
        for name, q in (("latency_p50", 50), ("latency_p95", 95))
    )
    return p50, p95


def error_rate(n_failed: int, n_total: int) -> MetricSummary:
    """Return error_rate: the share of items that failed (None for an empty run). Lower is better."""
    if not 0 <= n_failed <= n_total:
        raise ValueError(f"error_rate needs 0 <= n_failed <= n_total, got {n_failed} of {n_total}")
    rate = n_failed / n_total if n_total else None
    return MetricSummary("error_rate", "NUMERIC", n_total, 0, rate, None, {}, False)
