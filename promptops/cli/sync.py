"""`promptops sync`: converge the registry to git, promoting only versions that beat their baseline."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from promptops.cli import registry, settings
from promptops.cli.confirm import ask_or_stop, must_ask
from promptops.cli.model_options import responses_option
from promptops.cli.output import echo_json, redacted
from promptops.cli.progress import progress_factory
from promptops.cli.reports import report_options, wanted, write_reports


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


def echo_datasets(result: Any, *, err: bool = True) -> None:
    """Print one line per dataset: what was (or, on a dry run, would be) written."""
    verb = "would upsert" if result.dry_run else "upserted"
    for d in result.datasets:
        created = " (new dataset)" if d.created else ""
        click.echo(
            f"dataset {d.name}{created}: {d.upserted} {verb}, {d.archived} archived, {d.unchanged} unchanged", err=err
        )


def echo_table(result: Any) -> None:
    """Print one row per prompt: outcome (or, on a dry run, the plan status), version, release, and why."""
    rows = [("prompt", "plan" if result.dry_run else "outcome", "version", "release")]
    rows += [
        (p.name, p.outcome, str(p.version) if p.version is not None else "-", p.release or "-") for p in result.prompts
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for i, row in enumerate(rows):
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        click.echo(line)
        p = result.prompts[i - 1] if i else None
        if p is not None and p.message and (result.dry_run or p.outcome not in ("promoted", "unchanged", "orphan")):
            click.echo(f"  {p.message}")


def echo_summary(result: Any, redact_patterns: Sequence[str]) -> None:
    """Print every verdict (masked: it quotes model outputs), then the table."""
    from promptops.verdict_render import verdict_text

    for p in result.prompts:
        if p.verdict is not None:
            click.echo(redacted(verdict_text(p.verdict), redact_patterns))
            click.echo("")
    echo_table(result)


@click.command()
@click.argument("names", nargs=-1)
@click.option(
    "--dry-run", is_flag=True, help="Show the plan (prompts and dataset uploads); create, run and move nothing."
)
@click.option("--yes", is_flag=True, help="Do not show the plan and ask first (Langfuse, from a terminal).")
@click.option(
    "--allow-dirty", is_flag=True, help="Sync uncommitted prompt files, recording the versions as made from them."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@report_options
@responses_option
@click.pass_context
def sync(
    ctx: click.Context,
    names: tuple[str, ...],
    dry_run: bool,
    yes: bool,
    allow_dirty: bool,
    as_json: bool,
    html_path: Path | None,
    junit_path: Path | None,
    responses: str | None,
) -> None:
    """Converge the registry to git for every prompt (or only NAMES).

    Content is looked up among all versions, so the same content never becomes a second
    version. New content becomes a version (with the commit that last changed its files),
    is run against production on the same dataset, model, evaluators and seed, and takes
    `production` (plus `release-N`) only on a pass. Each decision is remembered per version
    and experiment: rejected content is not run again and makes sync exit 1 until git
    changes the prompt; content production was rolled back from is held. A version that
    cannot be judged (over its budget, or a real model without its key) is "not evaluated"
    and stays pending. Refuses uncommitted prompt files (see --allow-dirty). Against Langfuse
    from a terminal it shows the plan and asks first. Safe to kill and run again. Exit 0 when everything is in sync,
    held or promoted, 1 when a gate failed, a prompt was not evaluated or git holds rejected
    content.
    """
    from promptops import api, runview

    s = settings(ctx)
    links = wanted(html_path, junit_path)
    with registry(ctx) as reg:
        if not dry_run and must_ask(reg, yes):
            preview = api.sync(s, names, dry_run=True, registry=reg)
            if any(p.outcome not in ("in-sync", "held", "orphan") for p in preview.prompts) or any(
                d.upserted or d.archived or d.created for d in preview.datasets
            ):
                echo_datasets(preview)
                echo_table(preview)
                ask_or_stop(f"Apply this plan to the {reg.describe()}?")
        result = api.sync(
            s, names, dry_run=dry_run, allow_dirty=allow_dirty, progress=progress_factory(), registry=reg,
            trace_links=links, responses=responses,
        )  # fmt: skip
    write_reports(lambda: runview.from_sync(result), html_path, junit_path, s.config.redact_patterns)
    if as_json:
        echo_json(
            {"dry_run": result.dry_run, "prompts": result_rows(result), "datasets": [vars(d) for d in result.datasets]},
            redact_patterns=s.config.redact_patterns,
        )
    else:
        echo_datasets(result)
        echo_summary(result, s.config.redact_patterns)
    ctx.exit(1 if result.failed else 0)
