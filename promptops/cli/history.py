"""`promptops history NAME`: the releases of a prompt, newest first."""

from __future__ import annotations

import click

from promptops.cli import registry, settings
from promptops.cli.output import echo_json


@click.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def history(ctx: click.Context, name: str, as_json: bool) -> None:
    """List the releases of prompt NAME: release, version, date, git commit, commit message.

    The release history lives in the registry itself (a `release-N` label per promotion);
    the current production version is marked with `*`, releases production was rolled
    back from are marked, and a production the gate never released is listed as such.
    The commit is the one that last changed the prompt's files before the version was made.
    """
    from promptops import api

    with registry(ctx) as reg:
        result = api.history(settings(ctx), name, registry=reg)
    if as_json:
        echo_json([vars(r) for r in result.releases])
        return
    if not result.releases:
        click.echo(f"{name} has no releases yet, and no version holds production")
        return
    click.echo("  release     version  created (UTC)         commit        message")
    for r in result.releases:
        mark = "*" if r.production else " "
        date = (r.created_at or "")[:19].replace("T", " ")
        commit = (r.git_commit or "-")[:12]
        release = f"release-{r.number}" if r.number else "(none)"
        note = " [rolled back from]" if r.rolled_back and not r.production else ""
        click.echo(f"{mark} {release:<11} {r.version:<8} {date:<21} {commit:<13} {r.commit_message or ''}{note}")
    current = next((r for r in result.releases if r.production), None)
    if current is not None and not current.number:
        click.echo(f"production is on version {current.version}, {current.note}")
