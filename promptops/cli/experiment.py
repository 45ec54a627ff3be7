"""`promptops experiment NAME`: run a prompt's experiment and show its aggregates and worst items."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from promptops.cli import registry, settings
from promptops.cli.model_options import responses_option
from promptops.cli.output import echo_json, redacted
from promptops.cli.progress import progress_factory
from promptops.cli.reports import report_options, wanted, write_reports
from promptops.cli.sharding import options_from, shard_options, summary_json, summary_lines


def result_json(result: Any) -> dict[str, Any]:
    """Return the JSON form of an ExperimentResult."""
    return {
        "prompt": result.prompt,
        "subject": result.subject,
        "version": result.version,
        "dataset": result.dataset,
        "model": result.model,
        "seed": result.seed,
        "run_id": result.run_id,
        "stopped": result.stopped,
        "metrics": {name: m.to_dict() for name, m in result.metrics.items()},
        "cost_usd": result.calls.cost_usd,
        "calls": result.calls.to_dict(),
        "failures": result.failure_reasons(),
        "items": [
            {
                "id": i.item_id,
                "repeat": i.repeat,
                "output": i.output,
                "error": i.error,
                "scores": {s.name: s.value for s in i.scores},
            }
            for i in result.items
        ],
    }


def echo_result(result: Any, redact_patterns: Sequence[str], worst: int = 5) -> None:
    """Print the aggregates table, why items failed, and the worst items (failed or scored false)."""
    from promptops.verdict import format_metric

    click.echo(f"{result.prompt} — {result.subject} on {result.dataset} with {result.model} (seed {result.seed})")
    click.echo(f"{'metric':<20} {'mean':>9} {'pass rate':>10} {'n':>5} {'failed':>7}")
    for name, m in result.metrics.items():
        rate = "—" if m.pass_rate is None else format_metric("pass_rate", m.pass_rate)
        click.echo(f"{name:<20} {format_metric(name, m.mean):>9} {rate:>10} {m.n:>5} {m.missing:>7}")
    failed = result.failed_items
    if failed:
        click.echo(f"\n{len(failed)} of {len(result.items)} item(s) failed:")
        for reason, count in _reasons(failed)[:worst]:
            click.echo(redacted(f"  ×{count}  {reason}", redact_patterns))
    if result.stopped:
        click.echo(f"run stopped early: {result.stopped}")
    if result.calls.stopped_by_budget:
        click.echo(f"  {result.calls.stopped_by_budget}; nothing more was called")
    if result.calls.worth_showing:
        click.echo(f"model calls: {result.calls.describe()}")
    limited = result.calls.limited_line()
    if limited:
        click.echo(limited)
    bad = [item for item in result.items if _is_bad(item)]
    ranked = sorted(bad, key=_badness, reverse=True)[:worst]
    if ranked:
        click.echo(f"\nworst items ({len(ranked)} of {len(bad)} that failed or scored false):")
        for item in ranked:
            shown = item.error if item.failed else repr(item.output)
            line = f"  {item.item_id}: {shown} (expected {item.expected_output!r})"
            click.echo(redacted(line, redact_patterns))  # outputs quote inputs: masked like every report
    elif result.items:
        click.echo("\nno item failed or scored false")


def _report_view(outcome: Any) -> Any:
    """Return the run's view for the HTML and JUnit reports (imported only when one is written)."""
    from promptops import runview

    return runview.from_experiment(outcome)


def all_failed(result: Any) -> bool:
    """Return whether the run has items and every one of them failed (nothing was measured)."""
    return bool(result.items) and len(result.failed_items) == len(result.items)


def _reasons(failed: Sequence[Any]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for item in failed:
        counts[item.error or ""] = counts.get(item.error or "", 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def _is_bad(item: Any) -> bool:
    # Only what says "not good" by itself: a NUMERIC score has no pass mark on the item.
    return bool(item.failed) or any(s.data_type == "BOOLEAN" and s.value is False for s in item.scores)


def _badness(item: Any) -> tuple[int, float]:
    if item.failed:
        return (1, 0.0)
    numeric = [float(s.value) for s in item.scores if isinstance(s.value, int | float | bool)]
    return (0, -sum(numeric) / len(numeric) if numeric else 0.0)


@click.command()
@click.argument("name")
@click.option("--version", "version", type=int, help="Run this registry version.")
@click.option("--label", help="Run the registry version that holds this label (e.g. production).")
@click.option("--working-tree", is_flag=True, help="Run the prompt as it is in the working tree (the default).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@report_options
@responses_option
@shard_options
@click.pass_context
def experiment(
    ctx: click.Context,
    name: str,
    version: int | None,
    label: str | None,
    working_tree: bool,
    as_json: bool,
    html_path: Path | None,
    junit_path: Path | None,
    responses: str | None,
    shard: Any,
    results_path: Path | None,
    sources: tuple[Path, ...],
    run_key: str | None,
) -> None:
    """Run prompt NAME's experiment and print its aggregates and worst items.

    With the deterministic mock, the same dataset, model, evaluators and seed give the same
    numbers every run, latency included (the mock's latency is simulated: model_options
    latency_ms and latency_jitter_ms, 0 by default). Runs are recorded where the registry lives
    (Langfuse traces, or .promptops/runs.db); a working tree equal to a stored version is recorded
    as that version. The local registry gets the dataset's items; Langfuse's dataset is never
    written from here: a run on items that differ from it (uncommitted, or not synced yet) uses the
    local items and is not linked to it. A real model's responses can be recorded and replayed
    (--responses), with the cost shown. Exit 1 when the run stopped early (a budget stops it
    too) or every item failed.

    With --shard I/N it runs one shard of the pairs into a results file; --from takes the joined
    shards' result without running anything (docs/sharding.md).
    """
    from promptops import api

    if sum([version is not None, label is not None, working_tree]) > 1:
        raise click.UsageError("give at most one of --version, --label and --working-tree")
    shards = options_from(shard, results_path, sources, run_key)
    if shard is not None and not shard.whole and (html_path or junit_path):
        raise click.UsageError("a shard is a part of the run: write the reports when joining, with `--from`")
    s = settings(ctx)
    links = wanted(html_path, junit_path)
    with registry(ctx) as reg:
        outcome = api.experiment(
            s, name, version=version, label=label, progress=progress_factory(), registry=reg, trace_links=links,
            responses=responses, shards=shards,
        )  # fmt: skip
    result = outcome.result
    if outcome.dataset_note:
        click.echo(f"note: {outcome.dataset_note}", err=True)
    if outcome.shards is not None:
        if outcome.shards.partial:
            if as_json:
                echo_json(summary_json(outcome.shards), redact_patterns=s.config.redact_patterns)
            else:
                for line in summary_lines(outcome.shards, f"experiment {name}"):
                    click.echo(redacted(line, s.config.redact_patterns))
            ctx.exit(0)
        for line in summary_lines(outcome.shards, f"experiment {name}"):
            click.echo(line, err=True)
    write_reports(lambda: _report_view(outcome), html_path, junit_path, s.config.redact_patterns)
    if as_json:
        echo_json(result_json(result), redact_patterns=s.config.redact_patterns)
    else:
        echo_result(result, s.config.redact_patterns)
    ctx.exit(1 if result.stopped or all_failed(result) else 0)
