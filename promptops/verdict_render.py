"""Gate verdicts as terminal text, JSON and GitHub-flavoured Markdown (PR comments, step summaries).

Every function here is a pure function of the Verdict: nothing is looked up, so a rendering can never show
something the gate did not decide on, and the PR comment can reuse the Markdown as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from promptops import verdict_extras
from promptops.evaluators.base import as_text
from promptops.verdict import ItemChange, MetricRow, Verdict, format_metric

CELL_CHARS = 200  # Markdown table cells: long outputs would bury the table
PREVIEW_CHARS = 80  # terminal previews: one line each


def verdict_json(verdict: Verdict) -> dict[str, Any]:
    """Return the verdict as a JSON-ready dict."""
    return verdict.to_dict()


def verdict_text(verdict: Verdict, *, max_items: int = 10) -> str:
    """Return the verdict for a terminal: metrics, checks, the items that got worse, then the reason."""
    header = ["metric", "better", "baseline", "candidate", "delta"]
    rows = [[r.name, "higher" if r.higher_is_better else "lower", *_values(r)] for r in verdict.metrics]
    lines = [f"{verdict.prompt}: {'PASSED' if verdict.passed else 'REJECTED'}", ""]
    lines += _aligned([header, *rows], right={2, 3, 4})
    lines += ["", "checks:"]
    kind_width = max((len(c.kind) for c in verdict.checks), default=0)
    lines += [f"  {'✓' if c.passed else '✗'} {c.kind.ljust(kind_width)}  {c.message}" for c in verdict.checks]
    for metric, items in _groups(verdict):
        lines += ["", *_text_items(verdict, metric, items, max_items)]
    lines += verdict_extras.text_lines(verdict)
    lines += ["", _footer(verdict), verdict.reason]
    return "\n".join(lines) + "\n"


def verdict_markdown(verdict: Verdict, *, max_items: int = 10) -> str:
    """Return the verdict as a GitHub-flavoured Markdown section: heading, reason, tables, worse items, footer."""
    icon, outcome = ("✅", "passed") if verdict.passed else ("❌", "rejected")
    lines = [f"### {icon} {_cell(verdict.prompt)}: {outcome}", "", _cell(verdict.reason, limit=None), ""]
    lines += ["| metric | baseline | candidate | delta |", "| :-- | --: | --: | --: |"]
    lines += [f"| {_metric_label(verdict, r)} | {' | '.join(_values(r))} |" for r in verdict.metrics]
    lines += ["", "| | check | detail |", "| :-: | :-- | :-- |"]
    lines += [f"| {'✅' if c.passed else '❌'} | {c.kind} | {_cell(c.message, limit=None)} |" for c in verdict.checks]
    for metric, items in _groups(verdict):
        lines += ["", *_markdown_items(verdict, metric, items, max_items)]
    lines += verdict_extras.markdown_lines(verdict, lambda text: _cell(text, limit=None))
    lines += ["", f"<sub>{_cell(_footer(verdict), limit=None)}</sub>"]
    return "\n".join(lines) + "\n"


def _values(row: MetricRow) -> list[str]:
    return [
        format_metric(row.name, row.baseline),
        format_metric(row.name, row.candidate),
        format_metric(row.name, row.delta, signed=True),
    ]


def _groups(verdict: Verdict) -> list[tuple[str, tuple[ItemChange, ...]]]:
    """Return the listed items by metric: the primary first (even when empty, with a baseline), then the
    metrics of the other failed checks."""
    metrics = [verdict.primary] if verdict.baseline_subject is not None else []
    metrics += [i.metric or verdict.primary for i in verdict.worse_items]
    return [
        (m, tuple(i for i in verdict.worse_items if (i.metric or verdict.primary) == m)) for m in dict.fromkeys(metrics)
    ]


def _aligned(rows: Sequence[Sequence[str]], *, right: set[int]) -> list[str]:
    """Return the rows as lines of padded columns, numbers right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    cells = [
        [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        for row in rows
    ]
    return ["  ".join(row).rstrip() for row in cells]


def _footer(verdict: Verdict) -> str:
    baseline = verdict.baseline_subject or "none (no production version yet)"
    return (
        f"baseline: {baseline} · candidate: {verdict.candidate_subject} · dataset: {verdict.dataset} · "
        f"model: {verdict.model} · seed: {verdict.seed}"
    )


def _label(item: ItemChange) -> str:
    return item.item_id if item.repeat == 0 else f"{item.item_id} (repeat {item.repeat})"


def _change(item: ItemChange, metric: str) -> str:
    """Return e.g. "1.00 → 0.00 (-1.00)"; without numeric values (CATEGORICAL) just the arrow."""
    if item.baseline_value is None and item.baseline_output is None and item.delta is None:
        return format_metric(metric, item.candidate_value)  # no baseline: the value below the floor
    moved = f"{format_metric(metric, item.baseline_value)} → {format_metric(metric, item.candidate_value)}"
    return moved if item.delta is None else f"{moved} ({format_metric(metric, item.delta, signed=True)})"


def _items_heading(verdict: Verdict, metric: str, items: Sequence[ItemChange]) -> str:
    count = len(items)
    noun = f"{count} item{'' if count == 1 else 's'}"
    if verdict.baseline_subject is None:
        return f"{noun} below the floor on {metric}"
    return f"{noun} got worse on {metric}"


def _more(items: Sequence[ItemChange], max_items: int) -> list[str]:
    hidden = len(items) - max_items
    return [f"… and {hidden} more"] if hidden > 0 else []


def _as_text(value: Any) -> str:
    # Item inputs may be read-only mappings, which json (inside as_text) would otherwise print as their repr.
    return as_text(dict(value) if isinstance(value, Mapping) else value)


def _preview(value: Any) -> str:
    """Return a value on one line, whitespace collapsed, cut at PREVIEW_CHARS."""
    if value is None:
        return "—"
    text = " ".join(_as_text(value).split())
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


def _text_items(verdict: Verdict, metric: str, items: Sequence[ItemChange], max_items: int) -> list[str]:
    if not items:
        return [f"no item got worse on {metric}"]
    lines = [f"{_items_heading(verdict, metric, items)}:"]
    for item in items[:max_items]:
        error = f"  error: {_preview(item.candidate_error)}" if item.candidate_error else ""
        lines.append(f"  {_label(item)}  {_change(item, metric)}{error}")
        lines.append(f"      input:     {_preview(item.input)}")
        lines.append(f"      expected:  {_preview(item.expected_output)}")
        if verdict.baseline_subject is not None:
            lines.append(f"      baseline:  {_preview(item.baseline_output)}")
        lines.append(f"      candidate: {_preview(item.candidate_output)}")
    return lines + [f"  {line}" for line in _more(items, max_items)]


def _cell(value: Any, *, limit: int | None = CELL_CHARS) -> str:
    """Return a value safe inside a Markdown table cell: cut at `limit`, HTML, `|`, backslashes, newlines escaped."""
    if value is None:
        return "—"
    text = _as_text(value)
    if limit is not None and len(text) > limit:
        text = text[:limit] + "…"
    # `<` and `&` so outputs cannot open HTML (a stray </details> would break the comment); `\` and backticks as
    # entities because a backslash could undo our `\|` and a code span would show the entities raw.
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace("\\", "&#92;").replace("`", "&#96;")
    text = text.replace("|", "\\|")
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")


def _metric_label(verdict: Verdict, row: MetricRow) -> str:
    name = f"**{_cell(row.name)}**" if row.name == verdict.primary else _cell(row.name)
    return name if row.higher_is_better else f"{name} (lower is better)"


def _markdown_items(verdict: Verdict, metric: str, items: Sequence[ItemChange], max_items: int) -> list[str]:
    if not items:
        return [f"No item got worse on {_cell(metric)}."]
    lines = [f"<details><summary>{_cell(_items_heading(verdict, metric, items))}</summary>", ""]
    shown = items[:max_items]
    if shown:
        lines += [f"| item | input | expected | baseline output | candidate output | {_cell(metric)} |"]
        lines += ["| :-- | :-- | :-- | :-- | :-- | --: |"]
    for item in shown:
        output = "" if item.candidate_output is None else _cell(item.candidate_output)
        if item.candidate_error:
            output += ("<br>" if output else "") + f"**error:** {_cell(item.candidate_error)}"
        cells = [_label(item), item.input, item.expected_output, item.baseline_output]
        lines.append(f"| {' | '.join(_cell(c) for c in cells)} | {output or '—'} | {_change(item, metric)} |")
    more = _more(items, max_items)
    return [*lines, *([""] if shown else []), *more, *([""] if more else []), "</details>"]
