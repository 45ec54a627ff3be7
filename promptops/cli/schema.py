"""`promptops schema`: print a JSON Schema that ships with promptops, for editors and CI."""

from __future__ import annotations

import click


@click.command()
@click.argument("kind", type=click.Choice(["prompt", "dataset", "config"]))
def schema(kind: str) -> None:
    """Print the JSON Schema of KIND (prompt, dataset or config) files.

    `promptops init` writes the prompt and dataset schemas to prompts/.schemas/, and its files point
    at them with a path relative to the file, which works offline:
    `# yaml-language-server: $schema=.schemas/prompt.schema.json` in prompts/NAME.yaml,
    `$schema=../.schemas/dataset.schema.json` in prompts/datasets/. After an upgrade, refresh them
    with `promptops schema prompt > prompts/.schemas/prompt.schema.json`.
    """
    from promptops.schema import schema_text

    click.echo(schema_text(kind).rstrip())
