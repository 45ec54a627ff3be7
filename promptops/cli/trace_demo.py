"""`promptops trace-demo`: trace one support flow (docs/observability.md), and say where it went."""

from __future__ import annotations

from typing import Any

import click

from promptops.cli import settings
from promptops.cli.output import echo_json


def _value(value: float | str | bool) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def echo_demo(result: Any) -> None:
    """Print the flow, where its trace is, its span tree (local store) and its scores."""
    who = " · ".join(f"{k} {v}" for k, v in (("user", result.user_id), ("session", result.session_id)) if v)
    click.echo(
        f"{result.prompt} {result.subject} · {result.dataset} item {result.item_id}" + (f" · {who}" if who else "")
    )
    click.echo(f"question: {result.question}")
    click.echo(f"answer:   {result.answer}" if result.error is None else f"failed:   {result.error}")
    click.echo("")
    if result.backend == "local":
        click.echo(f"trace {result.trace_id} (run {result.run_id}) in the local store {result.where}:")
        for span in result.spans:
            linked = f"  → prompt {span.prompt}" if span.prompt else ""
            click.echo(f"  {'  ' * span.depth}{span.name} ({span.type}){linked}")
        click.echo(
            f"  read it: sqlite3 {result.where} \"SELECT name, type FROM spans WHERE trace_id = '{result.trace_id}'\""
        )
    else:
        click.echo(f"trace {result.trace_id} (experiment run {result.run_id}) sent to {result.where}")
        click.echo(f"  {result.trace_url or 'open Traces in the Langfuse UI and search for the trace id'}")
        click.echo("  (Langfuse ingests traces asynchronously: the trace appears within seconds)")
    click.echo("scores:")
    for score in result.scores:
        click.echo(f"  {score.name:<14} {_value(score.value):<10} {score.data_type}")


@click.command("trace-demo")
@click.option("--prompt", "prompt", default="support-agent", show_default=True, help="Prompt whose flow to trace.")
@click.option("--item", "item_id", metavar="ID", help="Dataset item to ask (default: the dataset's first).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def trace_demo(ctx: click.Context, prompt: str, item_id: str | None, as_json: bool) -> None:
    """Trace one support flow end to end (docs/observability.md) and show where it went.

    One question from the prompt's dataset runs retrieve -> rank -> prompt-managed-call (the
    generation linked to the production version, when there is one), with the user and session
    propagated to every span and three scores: groundedness (numeric), user_feedback
    (categorical) and resolved (boolean). The trace goes to Langfuse when it is the registry,
    else to .promptops/runs.db. Exit 1 when the flow failed.
    """
    from promptops import demo

    result = demo.trace_demo(settings(ctx), prompt=prompt, item_id=item_id)
    if as_json:
        echo_json(result.to_dict())
    else:
        echo_demo(result)
    ctx.exit(1 if result.error is not None else 0)
