"""Every item of a prompt's runs, side by side: input, expected, both outputs, their diff and every score.

The table is complete and readable as plain HTML, in the order that needs a look first (failed, regressed,
improved, unchanged). The page's script adds the filter buttons (hidden until it runs) and sortable headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from promptops.evaluators.base import Score
from promptops.htmlreport.charts import gain_class
from promptops.htmlreport.diffs import word_diff
from promptops.htmlreport.markup import Text, el
from promptops.results import ItemResult
from promptops.runview import STATUS_ORDER, ItemRow, ItemStatus, PromptView, count
from promptops.verdict import format_value


def items_section(prompt: PromptView, t: Text, trace_urls: Mapping[str, str]) -> str:
    """Return the items heading, the filter controls and the table of every item."""
    rows = prompt.items
    if prompt.runs is None or not rows:
        return ""
    paired = prompt.runs.baseline is not None
    counts = count(rows)
    buttons = [el("button", f"all ({len(rows)})", type="button", data_filter="all", aria_pressed="true")]
    shown: tuple[ItemStatus, ...] = ("failed", "regressed", "improved", "unchanged") if paired else ("failed", "scored")
    for status in shown:
        n = counts.get(status, 0)
        buttons.append(
            el("button", f"{status} ({n})", type="button", data_filter=status, aria_pressed="false", class_=status)
        )
    search = el("input", type="search", placeholder="filter by text", aria_label="filter items by text")
    controls = el("div", [el("span", "show:", class_="muted"), *buttons, search, el("span", "", class_="shown")],
                  class_="controls", hidden=True)  # fmt: skip
    primary = t(prompt.primary) if prompt.primary else "primary"
    head_cells = [
        el("th", "item", scope="col", data_sort="id"),
        el("th", "status", scope="col", data_sort="status"),
        el("th", f"Δ {primary}", scope="col", data_sort="delta") if paired else "",
        el("th", "input · expected", scope="col"),
        el("th", "baseline output", scope="col") if paired else "",
        el("th", "candidate output" if paired else "output", scope="col"),
        el("th", "diff baseline → candidate", scope="col") if paired else "",
        el("th", "scores", scope="col"),
    ]
    body = [_row(row, index, prompt, t, trace_urls, paired) for index, row in enumerate(rows)]
    table = el("table", [el("thead", el("tr", head_cells)), el("tbody", body)], class_="items")
    note = el("p", _summary(counts, prompt, t), class_="muted")
    return el("section", [el("h3", "Items"), note, controls, el("div", table, class_="scroll")], class_="item-list")


def _summary(counts: Mapping[ItemStatus, int], prompt: PromptView, t: Text) -> str:
    parts = [f"{n} {status}" for status, n in counts.items()]
    basis = f" on {t(prompt.primary)}" if prompt.primary and prompt.runs and prompt.runs.baseline else ""
    return f"{sum(counts.values())} item(s){basis}: " + ", ".join(parts) + "."


def _row(row: ItemRow, index: int, prompt: PromptView, t: Text, urls: Mapping[str, str], paired: bool) -> str:
    cand, base = row.candidate, row.baseline
    delta = "" if row.delta is None else repr(row.delta)
    cells = [
        el("td", [el("span", t(row.key), class_="id"), _traces(row, urls)]),
        el("td", el("span", row.status, class_=f"status {row.status}")),
        el("td", format_value(row.delta, signed=True), class_="num") if paired else "",
        el("td", [_labelled("input", _input(cand.input, t)), _labelled("expected", t(cand.expected_output))]),
        el("td", _output(base, t), class_="out base") if paired else "",
        el("td", _output(cand, t), class_="out cand"),
        el("td", _diff(base, cand, t), class_="out diff") if paired else "",
        el("td", _scores(row, t, prompt)),
    ]
    rank = str(STATUS_ORDER.index(row.status))
    return el("tr", cells, class_="item", id=f"item-{index}", data_id=t.plain(row.key), data_status=row.status,
              data_rank=rank, data_delta=delta, data_order=str(index))  # fmt: skip


def _input(value: Mapping[str, Any], t: Text) -> str:
    """Return an item's variables one per line (`country: France`), or as JSON when a value is not plain text."""
    if all(isinstance(v, str | int | float | bool) for v in value.values()):
        return "\n".join(f"{t(key)}: {t(v)}" for key, v in value.items())
    return t(value)


def _labelled(label: str, content: str) -> str:
    return el("div", el("span", label, class_="label") + el("pre", content or "—"))


def _output(item: ItemResult | None, t: Text) -> str:
    if item is None:
        return el("span", "not run", class_="muted")
    shown = el("pre", t(item.output)) if item.output is not None else ""
    error = el("div", el("strong", "error: ") + t(item.error), class_="error") if item.error else ""
    return shown + error or el("span", "no output", class_="muted")


def _diff(base: ItemResult | None, cand: ItemResult, t: Text) -> str:
    if base is None or base.output is None or cand.output is None:
        return el("span", "no output to compare", class_="muted")
    return el("pre", word_diff(t.plain(base.output), t.plain(cand.output)))


def _traces(row: ItemRow, urls: Mapping[str, str]) -> str:
    """Return links to the item's Langfuse traces; a trace id without a link (local store) as text."""
    links = []
    for name, item in (("baseline", row.baseline), ("candidate", row.candidate)):
        if item is None or item.trace_id is None:
            continue
        url = urls.get(item.trace_id)
        title = f"{name} trace {item.trace_id}"
        if url is not None:
            links.append(el("a", f"{name} trace", href=url, class_="trace", title=title, rel="noreferrer"))
    return el("div", " · ".join(links), class_="traces") if links else ""


def _scores(row: ItemRow, t: Text, prompt: PromptView) -> str:
    """Return a small table of every score of the item: baseline, candidate, and whether it got better."""
    metrics = prompt.runs.candidate.metrics if prompt.runs is not None else {}
    cand = {s.name: s for s in row.candidate.scores}
    base = {s.name: s for s in row.baseline.scores} if row.baseline is not None else {}
    names = list(cand) + [n for n in base if n not in cand]
    if not names:
        return el("span", "no scores", class_="muted")
    lines = []
    for name in names:
        b, c = base.get(name), cand.get(name)
        cls = "same"
        if b is not None and c is not None and not isinstance(b.value, str) and not isinstance(c.value, str):
            summary = metrics.get(name)
            cls = gain_class(float(b.value), float(c.value), summary is None or summary.higher_is_better)
        label = el("th", t(name) + (" ★" if name == prompt.primary else ""), scope="row")
        values = [el("td", _score(b, t), class_="num")] if row.baseline is not None else []
        values.append(el("td", _score(c, t), class_=f"num {cls}"))
        lines.append(el("tr", [label, *values]))
    return el("table", el("tbody", lines), class_="scores")


def _score(score: Score | None, t: Text) -> str:
    if score is None:
        return "—"
    if isinstance(score.value, bool):
        return "true" if score.value else "false"
    if isinstance(score.value, float | int):
        return format_value(float(score.value))
    return el("span", t(score.value), class_="cat")
