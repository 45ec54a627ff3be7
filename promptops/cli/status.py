"""`promptops status`: one line per prompt saying where git and the registry stand."""

from __future__ import annotations

import click

from promptops.cli import registry, settings
from promptops.cli.diff import diff_rows, echo_text, summary
from promptops.cli.output import echo_json


@click.command()
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def status(ctx: click.Context, names: tuple[str, ...], as_json: bool) -> None:
    """Show each prompt's status against the registry, without diffs (a few list requests only).

    Exit 0 whatever the status (use `promptops diff` for an exit code that says whether
    changes are pending), 1 on errors.
    """
    from promptops import api

    with registry(ctx) as reg:
        result = api.diff(settings(ctx), names, with_text=False, registry=reg)
    if as_json:
        echo_json(diff_rows(result))
    else:
        echo_text(result, show_diffs=False)
    click.echo(summary(result), err=True)
