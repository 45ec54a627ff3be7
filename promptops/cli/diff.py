"""`promptops diff`: what sync would do, prompt by prompt, with the rendered text and config diffs."""

from __future__ import annotations

from typing import Any

import click

from promptops.cli import registry, settings
from promptops.cli.output import echo_json

SYMBOLS = {
    "new": "+",
    "changed": "~",
    "changed-outside-git": "!",
    "experiment-changed": "*",
    "pending": "?",
    "earlier-release": "^",
    "in-sync": "=",
    "rejected": "x",
    "held": "<",
    "orphan": "-",
}


def diff_rows(result: Any) -> list[dict[str, Any]]:
    """Return the JSON form of a DiffResult."""
    rows = []
    for d in result.prompts:
        state = d.plan.state
        rows.append(
            {
                "name": d.plan.name,
                "status": d.plan.status,
                "action": d.plan.action,
                "pending": d.plan.pending,
                "blocking": d.plan.blocking,
                "latest_version": state.latest_version if state else None,
                "production_version": state.production_version if state else None,
                "candidate_version": d.plan.candidate,
                "content_hash": d.plan.rendered.content_hash if d.plan.rendered else None,
                "fingerprint": d.plan.fingerprint,
                "notes": list(d.plan.notes),
                "text_diff": d.text_diff,
                "config_diff": d.config_diff,
            }
        )
    return rows


def summary(result: Any) -> str:
    """Return a one-line count of prompts by status."""
    counts: dict[str, int] = {}
    for d in result.prompts:
        counts[d.plan.status] = counts.get(d.plan.status, 0) + 1
    parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    verdict = "rejected content in git" if result.blocking else "changes pending" if result.pending else "in sync"
    return f"{verdict}: {parts}" if parts else "in sync: no prompts"


def echo_text(result: Any, *, show_diffs: bool) -> None:
    """Print one line per prompt and, for changed prompts, their diffs."""
    width = max((len(d.plan.name) for d in result.prompts), default=0)
    for d in result.prompts:
        click.echo(f"{SYMBOLS[d.plan.status]} {d.plan.name:<{width}}  {d.plan.status}: {d.plan.action}")
        for note in d.plan.notes:
            click.echo(f"  {' ' * width}  note: {note}")
        if show_diffs:
            for text in (d.text_diff, d.config_diff):
                if text:
                    click.echo(text.rstrip("\n"))


def echo_markdown(result: Any) -> None:
    """Print the plan as a Markdown table with diffs in fenced blocks."""
    click.echo("| | prompt | status | plan |\n|---|---|---|---|")
    for d in result.prompts:
        click.echo(f"| {SYMBOLS[d.plan.status]} | `{d.plan.name}` | {d.plan.status} | {d.plan.action} |")
    for d in result.prompts:
        if d.text_diff or d.config_diff:
            click.echo(
                f"\n<details><summary>{d.plan.name}</summary>\n\n```diff\n{d.text_diff}{d.config_diff}```\n</details>"
            )


@click.command()
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown"]),
    default="text",
    show_default=True,
    help="Text for terminals, Markdown for PR comments.",
)
@click.pass_context
def diff(ctx: click.Context, names: tuple[str, ...], as_json: bool, fmt: str) -> None:
    """Show what `promptops sync` would do for each prompt (or only NAMES).

    Git is compared with the version that holds `production`, and git's content is looked up
    among all versions. Statuses: new; changed (with the text and config diff from production);
    changed-outside-git (production was not made from git); experiment-changed (the dataset,
    evaluators, model, seed or gate changed since production was judged); pending (a version
    with this content awaits the gate); earlier-release (this content was released before:
    judged again, no new version); in-sync; rejected (this content failed its gate: change the
    prompt); held (production was rolled back from this content); orphan (gone from git).
    Exit codes as `terraform plan -detailed-exitcode`: 0 in sync (or held), 2 changes pending,
    1 errors or rejected content in git.
    """
    from promptops import api

    with registry(ctx) as reg:
        result = api.diff(settings(ctx), names, registry=reg)
    if as_json:
        echo_json(diff_rows(result))
    elif fmt == "markdown":
        echo_markdown(result)
    else:
        echo_text(result, show_diffs=True)
    click.echo(summary(result), err=True)
    ctx.exit(1 if result.blocking else 2 if result.pending else 0)
