"""`promptops render NAME`: show the text promptops will store, and optionally compile it."""

from __future__ import annotations

import click

from promptops.cli import settings
from promptops.cli.output import echo_json
from promptops.textdiff import prompt_as_text


def parse_vars(pairs: tuple[str, ...]) -> dict[str, str]:
    """Turn `k=v` pairs into a dict, refusing malformed ones."""
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--var")
        values[key] = value
    return values


@click.command()
@click.argument("name")
@click.option(
    "--var",
    "pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="Runtime variable value; JSON messages for a chat placeholder (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def render(ctx: click.Context, name: str, pairs: tuple[str, ...], as_json: bool) -> None:
    """Render prompt NAME as it will be stored (runtime variables stay {{placeholders}}).

    With --var, also show the result of the langfuse SDK's compile() with those values,
    which is what an application gets at run time. A chat placeholder takes JSON messages:
    --var history='[{"role": "user", "content": "Hi"}]'. A name the prompt does not declare is
    a usage error; a declared variable left out is a warning, because the official SDKs differ
    there (Python keeps {{name}}, JS/TS makes it empty).
    """
    from promptops import api

    values = parse_vars(pairs)
    result = api.render(settings(ctx), name, values or None)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    rendered = result.rendered
    if as_json:
        echo_json(
            {
                "name": rendered.name,
                "type": rendered.type,
                "prompt": rendered.as_langfuse_prompt(),
                "config": dict(rendered.config),
                "content_hash": rendered.content_hash,
                "compiled": result.compiled,
            }
        )
        return
    click.echo(prompt_as_text(rendered.prompt))
    if result.compiled is not None:
        click.echo("\n--- compiled with " + ", ".join(f"{k}={v}" for k, v in values.items()) + " ---")
        click.echo(prompt_as_text(result.compiled))
