"""The few numbers the report adds to a run's aggregates: intervals over repeats, latency percentiles."""

from __future__ import annotations

import math
from collections.abc import Sequence

from promptops.results import ExperimentResult
from promptops.verdict import item_value

Z_95 = 1.959963984540054  # the normal quantile of a two-sided 95% interval


def has_repeats(run: ExperimentResult) -> bool:
    """Return whether any item ran more than once."""
    return any(item.repeat > 0 for item in run.items)


def interval(run: ExperimentResult, metric: str) -> tuple[float, float] | None:
    """Return a 95% interval of the metric's mean when items ran repeatedly; None otherwise.

    Repeats of one item are not independent draws, so the interval is over items: each item's mean over its
    repeats, then mean ± 1.96 standard errors of those (a normal approximation), kept within [0, 1] when every
    value lies there (shares and 0..1 scores cannot leave it). Without repeats the mock model's answers are
    fixed, and an interval would claim a spread there is not.
    """
    summary = run.metrics.get(metric)
    if summary is None or summary.mean is None or not has_repeats(run):
        return None
    per_item: dict[str, list[float]] = {}
    for item in run.items:
        value = item_value(item, metric, summary)
        if value is not None:
            per_item.setdefault(item.item_id, []).append(value)
    means = [sum(values) / len(values) for values in per_item.values()]
    if len(means) < 2:
        return None
    centre = sum(means) / len(means)
    spread = math.sqrt(sum((m - centre) ** 2 for m in means) / (len(means) - 1))
    half = Z_95 * spread / math.sqrt(len(means))
    if all(0.0 <= m <= 1.0 for m in means):
        return max(0.0, centre - half), min(1.0, centre + half)
    return centre - half, centre + half


def latencies(run: ExperimentResult | None) -> list[float]:
    """Return the measured item latencies of a run, in seconds (failed items have none)."""
    return [] if run is None else [item.latency_s for item in run.items if item.latency_s is not None]


def percentile(values: Sequence[float], q: float) -> float:
    """Return the q-th percentile (0..100) by linear interpolation between the closest ranks."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
