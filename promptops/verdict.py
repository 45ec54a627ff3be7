"""The gate's verdict as values: the checks a candidate was held to, the metrics side by side, the items that got
worse, and how every view formats a metric's value. No judging here (gate.py) and no rendering (verdict_render.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, Literal

from promptops.cost import CostSummary
from promptops.evaluators.aggregate import MetricSummary
from promptops.results import ItemResult

if TYPE_CHECKING:
    from promptops.gate_stats import MetricStatistics

EPSILON = 1e-9  # float noise allowed in comparisons: means of 0/1 scores are inexact
CheckKind = Literal["run", "primary", "significance", "guardrail", "floor", "interval"]


@dataclass(frozen=True)
class Check:
    """One rule the candidate was held to and how it fared; `message` is a clause usable in a sentence."""

    kind: CheckKind
    metric: str | None
    baseline: float | None
    candidate: float | None
    delta: float | None  # candidate - baseline, as measured (not direction-adjusted)
    threshold: float | None  # min_delta, max_regression, the floor, or alpha
    passed: bool
    message: str


@dataclass(frozen=True)
class MetricRow:
    """One metric of the candidate and/or the baseline, side by side."""

    name: str
    baseline: float | None
    candidate: float | None
    delta: float | None
    higher_is_better: bool


@dataclass(frozen=True)
class ItemChange:
    """An item that got worse on a metric, or newly failed, in the candidate (without a baseline: one below a
    failed floor)."""

    item_id: str
    repeat: int
    input: Mapping[str, Any]
    expected_output: Any
    baseline_output: str | None
    candidate_output: str | None
    baseline_value: float | None
    candidate_value: float | None
    delta: float | None  # candidate_value - baseline_value, as measured
    candidate_error: str | None
    metric: str = ""  # the metric it got worse on (the primary, or a failing guardrail's or floor's)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"input": dict(self.input)}


@dataclass(frozen=True)
class SignificanceResult:
    """A paired test over the primary metric's per-item values; wins/losses count candidate better/worse."""

    test: Literal["sign", "bootstrap"]
    n_pairs: int
    p_value: float
    wins: int
    losses: int
    ties: int


@dataclass(frozen=True)
class Verdict:
    """The gate's decision on one candidate, with everything needed to explain it."""

    prompt: str
    passed: bool
    reason: str  # one sentence
    primary: str
    checks: tuple[Check, ...]
    metrics: tuple[MetricRow, ...]
    worse_items: tuple[ItemChange, ...]
    significance: SignificanceResult | None
    baseline_subject: str | None
    candidate_subject: str
    dataset: str
    model: str
    seed: int
    cost: CostSummary | None = None  # what the candidate and baseline runs cost (cost.py)
    statistics: tuple[MetricStatistics, ...] = ()  # intervals, pass@k, pass^k (gate_stats.py)
    notes: tuple[str, ...] = ()  # what the sample cannot show, metrics that are noise here

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        # Field by field, not asdict(): that would deep-copy the items' inputs, which may be read-only mappings.
        return {f.name: getattr(self, f.name) for f in fields(self)} | {
            "checks": [asdict(c) for c in self.checks],
            "metrics": [asdict(m) for m in self.metrics],
            "worse_items": [i.to_dict() for i in self.worse_items],
            "significance": asdict(self.significance) if self.significance else None,
            "cost": self.cost.to_dict() if self.cost else None,
            "statistics": [s.to_dict() for s in self.statistics],
            "notes": list(self.notes),
        }


def format_value(value: float | None, *, signed: bool = False) -> str:
    """Return a metric value as verdicts show it: two decimals (more for tiny non-zero values), "—" for None."""
    if value is None:
        return "—"
    if abs(value) < EPSILON:
        value = 0.0  # float noise (and -0.0) reads as an exact zero
    if value != 0 and abs(value) < 0.005:
        return f"{value:+.2g}" if signed else f"{value:.2g}"  # would print as 0.00 and hide the change
    return f"{value:+.2f}" if signed else f"{value:.2f}"


LATENCY_METRICS = ("latency_p50", "latency_p95")


def format_metric(metric: str, value: float | None, *, signed: bool = False) -> str:
    """Return a metric's value as every view shows it: latency in milliseconds with its unit, else format_value."""
    if metric in LATENCY_METRICS and value is not None:
        ms = 0.0 if abs(value) < EPSILON else value * 1000
        return f"{ms:+.1f} ms" if signed else f"{ms:.1f} ms"
    return format_value(value, signed=signed)


def item_value(item: ItemResult, metric: str, summary: MetricSummary | None) -> float | None:
    """Return one item's value of a metric, or None without a numeric one (CATEGORICAL, no latency, unknown)."""
    if metric == "error_rate":
        return 1.0 if item.failed else 0.0
    if metric in ("latency_p50", "latency_p95"):
        return item.latency_s
    if summary is None or summary.data_type == "CATEGORICAL":
        return None  # a category's number comes from the evaluator's mapping, which the result does not hold
    score = item.score(metric)
    # A missing score counts as the worst value (0 / False), as the aggregate counts it against the mean.
    return 0.0 if score is None else float(score.value)
