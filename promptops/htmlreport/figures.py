"""The charts of a prompt's runs: metric bars, per-item changes, latencies; and the tokens they used."""

from __future__ import annotations

from collections.abc import Sequence

from promptops.htmlreport import charts
from promptops.htmlreport.markup import Text, el
from promptops.htmlreport.metrics import higher_is_better, mean, metric_names
from promptops.htmlreport.stats import interval, latencies
from promptops.results import ExperimentResult
from promptops.runview import PromptView
from promptops.verdict import item_value

LATENCY_METRICS = ("latency_p50", "latency_p95")  # drawn on the latency chart, in milliseconds


def figures(prompt: PromptView, t: Text) -> str:
    """Return the charts of a prompt's runs (those that have data), side by side."""
    assert prompt.runs is not None
    base_run, cand_run = prompt.runs.baseline, prompt.runs.candidate
    names = [n for n in metric_names(prompt) if n not in LATENCY_METRICS]
    bars = [
        charts.Bar(
            t(n), mean(base_run, n), mean(cand_run, n),
            interval(base_run, n) if base_run else None, interval(cand_run, n), higher_is_better(prompt, n),
        )
        for n in names
        if mean(base_run, n) is not None or mean(cand_run, n) is not None
    ]  # fmt: skip
    shown = []
    if bars:
        label = "Metrics: baseline and candidate" if base_run else "Metrics"
        shown.append(el("figure", charts.metric_bars(bars, title=label) + el("figcaption", label)))
    if base_run is not None:
        shown.append(_change_figure(prompt, names, t))
    runs = [
        (name, latencies(run)) for name, run in (("baseline", base_run), ("candidate", cand_run)) if run is not None
    ]
    # All zeros is no measurement: mock-llm-v1 reports its simulated latency, 0 unless latency_ms is set.
    if any(v > 0 for _, values in runs for v in values):
        label = "Latency per item (ms)"
        shown.append(el("figure", charts.latency_strip(runs, title=label) + el("figcaption", label)))
    return el("div", shown, class_="charts")


def _change_figure(prompt: PromptView, names: Sequence[str], t: Text) -> str:
    """Return one histogram per numeric metric of how much each item's score moved, the primary first."""
    assert prompt.runs is not None and prompt.runs.baseline is not None
    base_run, cand_run = prompt.runs.baseline, prompt.runs.candidate
    by_key = {(i.item_id, i.repeat): i for i in base_run.items}
    ordered = sorted(names, key=lambda n: n != prompt.primary)
    histograms = []
    for name in ordered:
        summary = cand_run.metrics.get(name) or base_run.metrics.get(name)
        if name == "error_rate" or summary is None or summary.data_type == "CATEGORICAL":
            continue
        deltas = []
        for item in cand_run.items:
            old = by_key.get((item.item_id, item.repeat))
            b = item_value(old, name, summary) if old is not None else None
            c = item_value(item, name, summary)
            if b is not None and c is not None:
                deltas.append(c - b)
        label = t(name) + (" ★" if name == prompt.primary else "")
        title = f"Change per item of {t(name)}"
        histograms.append(
            charts.delta_histogram(deltas, higher_is_better=summary.higher_is_better, title=title, label=label)
        )
    caption = el("figcaption", "How much each item's score moved, baseline → candidate (bars count items)")
    return el("figure", el("div", histograms, class_="small-multiples") + caption, class_="wide")


def tokens(base: ExperimentResult | None, cand: ExperimentResult) -> str:
    """Return the tokens both runs used ("" when none were counted), for the prompt's facts."""
    if not any(r is not None and (r.input_tokens or r.output_tokens) for r in (base, cand)):
        return ""
    runs = (("baseline", base), ("candidate", cand))
    return " · ".join(
        f"{name} {run.input_tokens} in / {run.output_tokens} out" for name, run in runs if run is not None
    )
