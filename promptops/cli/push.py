"""`promptops push`: create versions for prompts changed in git, without moving production."""

from __future__ import annotations

import click

from promptops.cli import registry, settings
from promptops.cli.confirm import ask_or_stop, must_ask
from promptops.cli.output import echo_json


@click.command()
@click.argument("names", nargs=-1)
@click.option("--yes", is_flag=True, help="Do not show the plan and ask first (Langfuse, from a terminal).")
@click.option(
    "--allow-dirty", is_flag=True, help="Push uncommitted prompt files, recording the versions as made from them."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def push(ctx: click.Context, names: tuple[str, ...], yes: bool, allow_dirty: bool, as_json: bool) -> None:
    """Create a registry version for each new or changed prompt (or only NAMES) and push datasets.

    For teams that gate elsewhere: runs no experiment and never moves `production`. Content
    already stored (in any version) is not stored again. Each version records its content
    hash, the commit that last changed its files and its source path. Refuses uncommitted
    prompt files (see --allow-dirty). Against Langfuse from a terminal it shows the plan and
    asks first. Safe to run again.
    """
    from promptops import api
    from promptops.publish import needs_version

    s = settings(ctx)
    with registry(ctx) as reg:
        if must_ask(reg, yes):
            planned = api.diff(s, names, with_text=False, registry=reg).prompts
            creates = [p.plan for p in planned if needs_version(p.plan)]
            if creates:
                for plan in creates:
                    click.echo(f"{plan.name}: {plan.action}", err=True)
                ask_or_stop(f"Create these versions in the {reg.describe()}?")
        result = api.push(s, names, allow_dirty=allow_dirty, registry=reg)
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
        click.echo("no new versions: the registry holds every prompt's content as it is in git")
