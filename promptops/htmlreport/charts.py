"""Inline SVG charts: per-metric bars, the distribution of per-item changes, and latencies.

Colours come from CSS classes (the page's stylesheet, light and dark), never from inline styles, so the page's
Content-Security-Policy can forbid every style it did not ship. Labels are passed in already escaped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from promptops.htmlreport.markup import el
from promptops.htmlreport.stats import percentile
from promptops.verdict import EPSILON, format_value

LABEL_W = 78  # the left column: "baseline" / "candidate"
VALUE_W = 96  # the right column: the value and its interval
WIDE = 540
NARROW = 270


@dataclass(frozen=True)
class Bar:
    """One metric of the bar chart: both means, their intervals, and which way is better."""

    label: str  # escaped
    baseline: float | None
    candidate: float | None
    baseline_interval: tuple[float, float] | None
    candidate_interval: tuple[float, float] | None
    higher_is_better: bool


def _n(x: float) -> str:
    return f"{x:.1f}"


def _svg(width: int, height: int, label: str, body: Sequence[str]) -> str:
    return el(
        "svg",
        [el("title", label), *body],
        viewBox=f"0 0 {width} {height}",
        width=str(width),
        height=str(height),
        role="img",
        aria_label=label,
        class_="chart",
    )


def _text(x: float, y: float, content: str, cls: str = "", anchor: str = "start") -> str:
    return el("text", content, x=_n(x), y=_n(y), class_=cls or None, text_anchor=anchor if anchor != "start" else None)


def _rect(x: float, y: float, width: float, height: float, cls: str) -> str:
    return el("rect", x=_n(x), y=_n(y), width=_n(width), height=_n(height), class_=cls)


def _line(x1: float, x2: float, y1: float, y2: float, cls: str) -> str:
    return el("line", x1=_n(x1), x2=_n(x2), y1=_n(y1), y2=_n(y2), class_=cls)


def _scale(values: Sequence[float]) -> tuple[float, float]:
    """Return the axis range: 0..1 for shares and scores in [0, 1], else from 0 (or below) to the maximum."""
    low, high = min([0.0, *values]), max([0.0, *values])
    if high - low < EPSILON:
        high = low + 1.0
    if low >= 0 and high <= 1:
        return 0.0, 1.0
    return low, high * 1.05 if high > 0 else high


def gain_class(baseline: float | None, candidate: float | None, higher_is_better: bool) -> str:
    """Return "better", "worse" or "same" for the candidate against the baseline."""
    if baseline is None or candidate is None:
        return "same"
    gain = (candidate - baseline) * (1 if higher_is_better else -1)
    return "better" if gain > EPSILON else "worse" if gain < -EPSILON else "same"


def metric_bars(bars: Sequence[Bar], *, title: str) -> str:
    """Return baseline and candidate bars for each metric, each metric on its own scale, whiskers for intervals."""
    block, bar_h = 52, 13
    width, plot = WIDE, WIDE - LABEL_W - VALUE_W
    body = []
    for index, bar in enumerate(bars):
        top = index * block
        numbers = [v for v in (bar.baseline, bar.candidate) if v is not None]
        numbers += [v for pair in (bar.baseline_interval, bar.candidate_interval) if pair for v in pair]
        low, high = _scale(numbers)

        def x(value: float, low: float = low, high: float = high) -> float:
            return LABEL_W + (value - low) / (high - low) * plot

        direction = "" if bar.higher_is_better else " (lower is better)"
        body.append(_text(0, top + 12, bar.label + direction, "metric"))
        rows = (
            ("baseline", bar.baseline, bar.baseline_interval, "base"),
            ("candidate", bar.candidate, bar.candidate_interval,
             "cand " + gain_class(bar.baseline, bar.candidate, bar.higher_is_better)),
        )  # fmt: skip
        for row, (name, value, spread, cls) in enumerate(rows):
            y = top + 18 + row * (bar_h + 4)
            body.append(_text(LABEL_W - 6, y + bar_h - 2, name, "axis", "end"))
            body.append(_rect(LABEL_W, y, plot, bar_h, "track"))
            if value is None:
                body.append(_text(LABEL_W + 4, y + bar_h - 2, "no value", "axis"))
                continue
            start, end = sorted((x(max(low, 0.0)), x(value)))
            body.append(_rect(start, y, max(end - start, 1.0), bar_h, cls))
            shown = format_value(value)
            if spread is not None:
                x1, x2, mid = x(spread[0]), x(spread[1]), y + bar_h / 2
                body.append(_line(x1, x2, mid, mid, "whisker"))
                body += [_line(edge, edge, y + 2, y + bar_h - 2, "whisker") for edge in (x1, x2)]
                shown += f" [{format_value(spread[0])}, {format_value(spread[1])}]"
            body.append(_text(LABEL_W + plot + 6, y + bar_h - 2, shown, "value"))
    return _svg(width, max(len(bars) * block, block), title, body)


def delta_histogram(deltas: Sequence[float], *, higher_is_better: bool, title: str, label: str) -> str:
    """Return how many items changed by how much: one bar per distinct change, or per bin when there are many."""
    width, height, top, bottom, left = NARROW, 156, 40, 124, 8
    bins = _bins(deltas)
    plot = width - 2 * left
    slot = plot / max(len(bins), 1)
    tallest = max((n for _, _, n in bins), default=1) or 1
    body = [_text(0, 14, label, "metric")]
    for index, (low, high, n) in enumerate(bins):
        bar_h, bar_w = (bottom - top) * n / tallest, min(slot * 0.76, 44.0)
        centre = left + (index + 0.5) * slot
        cls = "cand " + gain_class(0.0, (low + high) / 2, higher_is_better)
        body.append(_rect(centre - bar_w / 2, bottom - bar_h, bar_w, max(bar_h, 0.5), cls))
        body.append(_text(centre, bottom - bar_h - 4, str(n), "value", "middle"))
        shown = format_value(low, signed=True) if high - low < EPSILON else f"{format_value(low, signed=True)}…"
        body.append(_text(centre, bottom + 14, shown, "axis", "middle"))
    body.append(_line(left, width - left, bottom, bottom, "zero"))
    body.append(_text(width / 2, height - 2, "change per item (candidate − baseline)", "axis", "middle"))
    return _svg(width, height, title, body)


def _bins(deltas: Sequence[float]) -> list[tuple[float, float, int]]:
    """Return (low, high, count) bins: exact values when there are few distinct ones, else 8 equal bins."""
    if not deltas:
        return []
    rounded = Counter(round(d, 9) + 0.0 for d in deltas)  # float noise must not split one value in two
    if len(rounded) <= 9:
        return [(value, value, rounded[value]) for value in sorted(rounded)]
    low, high = min(deltas), max(deltas)
    step = (high - low) / 8
    counts = [0] * 8
    for d in deltas:
        counts[min(int((d - low) / step), 7)] += 1
    return [(low + i * step, low + (i + 1) * step, n) for i, n in enumerate(counts)]


def latency_strip(runs: Sequence[tuple[str, Sequence[float]]], *, title: str) -> str:
    """Return each run's item latencies as dots on one millisecond axis, with the p50 and p95 marked."""
    width, row_h, top = WIDE, 38, 8
    plot = width - LABEL_W - VALUE_W
    everything = [v * 1000 for _, values in runs for v in values]
    high = max(everything, default=1.0) * 1.05 or 1.0
    body = []
    for index, (name, values) in enumerate(runs):
        y = top + index * row_h + row_h / 2
        body.append(_text(LABEL_W - 6, y + 4, name, "axis", "end"))
        body.append(_line(LABEL_W, LABEL_W + plot, y, y, "track-line"))
        for v in values:
            body.append(el("circle", cx=_n(LABEL_W + v * 1000 / high * plot), cy=_n(y), r="3", class_="dot"))
        if values:
            p50, p95 = (percentile([v * 1000 for v in values], q) for q in (50, 95))
            for mark, cls in ((p50, "p50"), (p95, "p95")):
                mx = LABEL_W + mark / high * plot
                body.append(_line(mx, mx, y - 10, y + 10, cls))
            body.append(_text(LABEL_W + plot + 6, y + 4, f"p50 {_ms(p50)} · p95 {_ms(p95)}", "value"))
    axis_y = top + len(runs) * row_h + 4
    body.append(_text(LABEL_W, axis_y + 10, "0 ms", "axis"))
    body.append(_text(LABEL_W + plot, axis_y + 10, _ms(high), "axis", "end"))
    return _svg(width, axis_y + 14, title, body)


def _ms(value: float) -> str:
    return f"{value:.3g} ms"
