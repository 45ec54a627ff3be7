"""`promptops push`: create versions for prompts changed in git, without moving production."""

from __future__ import annotations

import click

from promptops.cli import registry, settings
from promptops.cli.output import echo_json


@click.command()
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def push(ctx: click.Context, names: tuple[str, ...], as_json: bool) -> None:
    """Create a registry version for each new or changed prompt (or only NAMES) and push datasets.

    For teams that gate elsewhere: runs no experiment and never moves `production`. Each
    version records its content hash, git commit and source path. Safe to run again.
    """
    from promptops import api

    with registry(ctx) as reg:
        result = api.push(settings(ctx), names, registry=reg)
    if as_json:
        echo_json(
            {
                "created": [{"name": v.name, "version": v.version, "labels": list(v.labels)} for v in result.created],
                "datasets": [vars(d) for d in result.datasets],
            }
        )
        return
    for d in result.datasets:
        click.echo(f"dataset {d.name}: {d.upserted} upserted, {d.archived} archived, {d.unchanged} unchanged")
    for v in result.created:
        click.echo(f"created {v.name} version {v.version}")
    if not result.created:
        click.echo("no new versions: the registry has every prompt as it is in git")
