"""`promptops validate`: check prompt files and datasets without touching any registry."""

from __future__ import annotations

import click

from promptops.cli import settings
from promptops.cli.output import echo_diagnostics


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="text: path:line:col lines; json: a list of diagnostics; github: workflow annotations.",
)
@click.pass_context
def validate(ctx: click.Context, paths: tuple[str, ...], fmt: str) -> None:
    """Check every prompt and dataset; with PATHS, report only problems in those files.

    Collects every problem (YAML, schema, Jinja, variables, names, labels, datasets, experiment
    links, secrets), prints them sorted by file and line, and exits 1 if any is an error.
    Writes nothing but its cache (.promptops/cache/): only files changed since are checked again.
    A large repository is checked on every core (PROMPTOPS_WORKERS=N sets how many; 1: none).
    """
    from promptops import api

    result = api.validate(settings(ctx), paths)
    echo_diagnostics(result.diagnostics, fmt)
    summary = (
        f"{result.errors} error(s), {result.warnings} warning(s) in {result.prompts} prompt(s) "
        f"and {result.datasets} dataset(s)"
    )
    click.echo(summary if result.diagnostics else f"ok: {summary}", err=True)
    ctx.exit(1 if result.errors else 0)
