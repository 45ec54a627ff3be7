"""Links from a report to the Langfuse traces of the items it shows (only runs traced in Langfuse have them)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from promptops.results import Evaluation, ExperimentResult


def runs_of(evaluations: Iterable[Evaluation | None]) -> list[ExperimentResult]:
    """Return every run of the given evaluations, candidates and baselines."""
    found = []
    for evaluation in evaluations:
        if evaluation is not None:
            found += [evaluation.candidate] + ([evaluation.baseline] if evaluation.baseline is not None else [])
    return found


def trace_urls(tracer: Any, runs: Iterable[ExperimentResult]) -> dict[str, str]:
    """Return {trace id: Langfuse UI URL} for every traced item; empty unless `tracer` wrote to Langfuse.

    The SDK builds the URL from the project id, which costs one projects request per client (then cached);
    when that request fails the report shows the trace ids without links rather than failing the command.
    """
    if getattr(tracer, "name", None) != "langfuse":
        return {}
    import httpx
    from langfuse.api.core.api_error import ApiError

    urls: dict[str, str] = {}
    for run in runs:
        for item in run.items:
            if item.trace_id is None or item.trace_id in urls:
                continue
            try:
                url = tracer.client.get_trace_url(trace_id=item.trace_id)
            except (ApiError, httpx.HTTPError):
                return {}
            if url is None:
                return {}  # no project id for these keys: no trace has a link
            urls[item.trace_id] = url
    return urls
