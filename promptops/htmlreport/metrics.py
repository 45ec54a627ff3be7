"""The metrics of a prompt's runs side by side: names, means, directions, and the table with deltas."""

from __future__ import annotations

from promptops.htmlreport.charts import gain_class
from promptops.htmlreport.markup import Text, el
from promptops.htmlreport.stats import interval
from promptops.results import ExperimentResult
from promptops.runview import PromptView
from promptops.verdict import format_value


def metric_names(prompt: PromptView) -> list[str]:
    """Return the candidate's metric names, then any only the baseline has."""
    assert prompt.runs is not None
    cand, base = prompt.runs.candidate.metrics, prompt.runs.baseline.metrics if prompt.runs.baseline else {}
    return list(cand) + [n for n in base if n not in cand]


def mean(run: ExperimentResult | None, name: str) -> float | None:
    """Return a run's mean of a metric, None without the run, the metric or a value."""
    summary = run.metrics.get(name) if run is not None else None
    return summary.mean if summary is not None else None


def higher_is_better(prompt: PromptView, name: str) -> bool:
    """Return whether a higher value of the metric is better (as the gate reads it)."""
    assert prompt.runs is not None
    summary = prompt.runs.candidate.metrics.get(name) or (
        prompt.runs.baseline.metrics.get(name) if prompt.runs.baseline else None
    )
    return summary is None or summary.higher_is_better


def metrics_table(prompt: PromptView, t: Text) -> str:
    """Return the metrics heading, the table of means (with deltas and intervals) and its legend."""
    assert prompt.runs is not None
    base_run, cand_run = prompt.runs.baseline, prompt.runs.candidate
    paired = base_run is not None
    head = ["metric", "better", *(["baseline"] if paired else []), "candidate" if paired else "value"]
    head += ["delta"] if paired else []
    head += ["n · failed"]
    rows = []
    for name in metric_names(prompt):
        b, c = mean(base_run, name), mean(cand_run, name)
        hib = higher_is_better(prompt, name)
        cells = [
            el("th", t(name) + (" ★" if name == prompt.primary else ""), scope="row"),
            el("td", "higher" if hib else "lower"),
        ]
        if paired:
            cells.append(el("td", _with_interval(b, base_run, name), class_="num"))
        cells.append(el("td", _with_interval(c, cand_run, name), class_="num"))
        if paired:
            delta = None if b is None or c is None else c - b
            cells.append(el("td", format_value(delta, signed=True), class_="num " + gain_class(b, c, hib)))
        summary = cand_run.metrics.get(name)
        cells.append(el("td", f"{summary.n} · {summary.missing}" if summary else "—", class_="num"))
        rows.append(el("tr", cells, data_metric=t.plain(name)))
    header = el("tr", [el("th", h, scope="col") for h in head])
    note = el(
        "p",
        "★ the gate's primary metric. Intervals (95%, over items) appear where items ran repeatedly.",
        class_="muted",
    )
    return el("h3", "Metrics") + el("table", el("thead", header) + el("tbody", rows), class_="metrics") + note


def _with_interval(value: float | None, run: ExperimentResult | None, name: str) -> str:
    spread = interval(run, name) if run is not None else None
    shown = format_value(value)
    return shown if spread is None else f"{shown} [{format_value(spread[0])}, {format_value(spread[1])}]"
