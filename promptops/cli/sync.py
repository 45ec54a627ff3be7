"""`promptops sync`: converge the registry to git, promoting only versions that beat their baseline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from promptops.cli import registry, settings
from promptops.cli.output import echo_json, redacted
from promptops.cli.progress import progress_factory


def result_rows(result: Any) -> list[dict[str, Any]]:
    """Return the JSON form of a SyncResult's prompts."""
    from promptops.verdict_render import verdict_json

    return [
        {
            "name": p.name,
            "status": p.status,
            "outcome": p.outcome,
            "version": p.version,
            "release": p.release,
            "message": p.message,
            "verdict": verdict_json(p.verdict) if p.verdict else None,
        }
        for p in result.prompts
    ]


def echo_summary(result: Any, redact_patterns: Sequence[str]) -> None:
    """Print every verdict (masked: it quotes model outputs), then one summary table row per prompt."""
    from promptops.verdict_render import verdict_text

    for p in result.prompts:
        if p.verdict is not None:
            click.echo(redacted(verdict_text(p.verdict), redact_patterns))
            click.echo("")
    width = max((len(p.name) for p in result.prompts), default=6)
    click.echo(f"{'prompt':<{width}}  {'outcome':<17} version  release")
    for p in result.prompts:
        version = str(p.version) if p.version is not None else "-"
        click.echo(f"{p.name:<{width}}  {p.outcome:<17} {version:<8} {p.release or '-'}")
        if p.outcome == "conflict":
            click.echo(f"  {p.message}")


@click.command()
@click.argument("names", nargs=-1)
@click.option("--dry-run", is_flag=True, help="Show the plan; create, run and move nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def sync(ctx: click.Context, names: tuple[str, ...], dry_run: bool, as_json: bool) -> None:
    """Converge the registry to git for every prompt (or only NAMES).

    For each prompt that changed in git: create the version (with provenance and the git commit
    in its commit message), run the baseline (production) and the candidate on the same dataset,
    model, evaluators and seed, and move `production` (plus `release-N`) only on a pass. A
    rejected version is labelled `rejected` and not re-run until git changes again. Safe to kill
    and run again. Exit 0 when everything is in sync or promoted, 1 when any gate failed.
    """
    from promptops import api

    s = settings(ctx)
    with registry(ctx) as reg:
        result = api.sync(s, names, dry_run=dry_run, progress=progress_factory(), registry=reg)
    if as_json:
        echo_json({"dry_run": result.dry_run, "prompts": result_rows(result)}, redact_patterns=s.config.redact_patterns)
    elif dry_run:
        for p in result.prompts:
            click.echo(f"{p.name}: {p.outcome}")
    else:
        for d in result.datasets:
            click.echo(
                f"dataset {d.name}: {d.upserted} upserted, {d.archived} archived, {d.unchanged} unchanged", err=True
            )
        echo_summary(result, s.config.redact_patterns)
    ctx.exit(1 if result.failed else 0)
