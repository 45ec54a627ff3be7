"""`promptops schema`: print a JSON Schema that ships with promptops, for editors and CI."""

from __future__ import annotations

import click


@click.command()
@click.argument("kind", type=click.Choice(["prompt", "dataset", "config"]))
def schema(kind: str) -> None:
    """Print the JSON Schema of KIND (prompt, dataset or config) files.

    Point your editor at it, e.g. with `# yaml-language-server: $schema=prompt.schema.json`.
    """
    from promptops.schema import schema_text

    click.echo(schema_text(kind).rstrip())
