"""The parts of a verdict's rendering that real models add: cost, rate limiting, statistics and notes.

Pure functions of the Verdict, like verdict_render (which calls these); empty for a mock run without repeats,
so those verdicts read exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable

from promptops.cost import CallStats
from promptops.gate_stats import MetricStatistics
from promptops.statistics import Interval
from promptops.verdict import Verdict, format_value


def _runs(verdict: Verdict) -> list[tuple[str, CallStats]]:
    cost = verdict.cost
    if cost is None:
        return []
    runs = [("candidate", cost.candidate)] + ([("baseline", cost.baseline)] if cost.baseline else [])
    return runs if any(stats.worth_showing for _, stats in runs) else []


def cost_lines(verdict: Verdict) -> list[str]:
    """Return one line per run: its cost and calls, and how often it was rate limited."""
    lines = []
    for role, stats in _runs(verdict):
        limited = stats.limited_line()
        lines.append(f"{role}: {stats.describe()}" + (f"; {limited}" if limited else ""))
    return lines


def _interval(value: float | None, interval: Interval | None) -> str:
    shown = format_value(value)
    return f"{shown} {interval.describe()}" if interval is not None else shown


def statistics_rows(verdict: Verdict) -> list[list[str]]:
    """Return the statistics table: header, then one row per metric and run."""
    rows = [["metric", "run", "mean [interval]", "pass rate [Wilson]", "pass@k", "pass^k", "flaky"]]
    for s in verdict.statistics:
        rows.append(
            [
                s.metric,
                s.run,
                _interval(s.mean, s.mean_interval),
                _interval(s.pass_rate, s.pass_interval) if s.pass_rate is not None else "—",
                format_value(s.pass_at_k),
                format_value(s.pass_hat_k),
                f"{s.flaky_items} of {s.items}" if s.pass_rate is not None else "—",
            ]
        )
    return rows


def statistics_heading(verdict: Verdict) -> str:
    """Return e.g. "statistics (95% intervals, k = 3 repeats of 10 items)"."""
    first: MetricStatistics = verdict.statistics[0]
    confidence = first.mean_interval or first.pass_interval
    level = f"{confidence.confidence * 100:g}% intervals" if confidence else "intervals"
    return f"statistics ({level}, k = {first.k} repeat{'s' if first.k != 1 else ''} of {first.items} items)"


def text_lines(verdict: Verdict) -> list[str]:
    """Return the terminal lines for statistics, notes and cost (empty when there is nothing to add)."""
    lines: list[str] = []
    if verdict.statistics:
        rows = statistics_rows(verdict)
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines += ["", f"{statistics_heading(verdict)}:"]
        lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    if verdict.notes:
        lines += ["", "notes:", *(f"  ! {note}" for note in verdict.notes)]
    costs = cost_lines(verdict)
    if costs:
        lines += ["", "model calls:", *(f"  {line}" for line in costs)]
    return lines


def markdown_lines(verdict: Verdict, escape: Callable[[str], str]) -> list[str]:
    """Return the Markdown lines for statistics, notes and cost; `escape` makes text safe in a table cell."""
    lines: list[str] = []
    if verdict.notes:
        lines += ["", *(f"> **Note:** {escape(note)}" for note in verdict.notes)]
    if verdict.statistics:
        rows = statistics_rows(verdict)
        lines += ["", f"<details><summary>{escape(statistics_heading(verdict))}</summary>", ""]
        lines += ["| " + " | ".join(rows[0]) + " |", "| :-- | :-- | --: | --: | --: | --: | --: |"]
        lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in rows[1:]]
        lines += ["", "</details>"]
    costs = cost_lines(verdict)
    if costs:
        lines += ["", "Model calls:", "", *(f"- {escape(line)}" for line in costs)]
    return lines
