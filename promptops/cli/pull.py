"""`promptops pull NAME`: write a registry version (a UI edit) back into the prompt's files."""

from __future__ import annotations

import click

from promptops.cli import registry, settings
from promptops.cli.output import echo_json


@click.command()
@click.argument("name")
@click.option("--version", "version", type=int, help="The version to pull (default: the newest).")
@click.option("--label", help="Pull the version that holds this label.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def pull(ctx: click.Context, name: str, version: int | None, label: str | None, as_json: bool) -> None:
    """Write a registry version of prompt NAME (default: the newest) back into its files.

    For an edit made in the Langfuse UI: only the lines the edit changed are rewritten, so the
    file keeps its constants, includes, loops, variables' descriptions, experiment and gate (a
    changed config replaces the file's `config:` block). An edit of text that an include, a
    loop or a macro produces cannot be written back without guessing: pull says so and writes
    nothing. It also writes nothing unless the result renders to that version exactly.
    """
    from promptops import api

    if version is not None and label is not None:
        raise click.UsageError("give --version or --label, not both")
    with registry(ctx) as reg:
        result = api.pull(settings(ctx), name, version=version, label=label, registry=reg)
    if as_json:
        echo_json({"name": result.name, "version": result.version, "files": list(result.files)})
        return
    if not result.files:
        click.echo(f"{name}: the files already render to version {result.version}; nothing to write")
        return
    click.echo(f"{name}: wrote version {result.version} into {', '.join(result.files)}")
    click.echo("review the change (git diff), then commit it: `promptops diff` then finds it in sync")
