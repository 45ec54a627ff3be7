"""`promptops restore NAME`: write a prompt's files back to what a registry version was made from."""

from __future__ import annotations

from typing import Any

import click

from promptops.cli import registry, settings
from promptops.cli.output import echo_json


def restored_json(restored: Any) -> dict[str, Any]:
    """Return the JSON form of a RestoreResult."""
    return {
        "name": restored.name,
        "version": restored.version,
        "commit": restored.commit,
        "files": list(restored.files),
        "matches": restored.matches,
        "other_sources": list(restored.other_sources),
    }


def echo_restored(restored: Any) -> None:
    """Say which files were written, and whether the prompt renders to the version's content again."""
    files = ", ".join(restored.files)
    click.echo(f"restored {files} from git {restored.commit[:12]} (version {restored.version})")
    if restored.matches:
        click.echo("the prompt renders to that version's content again; commit it so git follows the registry")
    else:
        others = ", ".join(restored.other_sources) or "files outside the prompt's own"
        click.echo(
            f"the prompt does not render to version {restored.version}'s content yet: it is also made from {others}, "
            "which changed since; restore them by hand (git show COMMIT:PATH) or edit the prompt"
        )


@click.command()
@click.argument("name")
@click.option("--version", "version", type=int, help="The version whose files to restore (default: production).")
@click.option("--label", help="The label of the version whose files to restore.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def restore(ctx: click.Context, name: str, version: int | None, label: str | None, as_json: bool) -> None:
    """Write prompt NAME's files back to the git commit a registry version records.

    Moves no label: use it when production already is where you want it (after a rollback,
    or a release made elsewhere) and git should follow. The prompt file and its sibling
    template are written from the commit that last changed them before the version was
    made; the result says whether the prompt now renders to that version's content.
    """
    from promptops import api

    if version is not None and label is not None:
        raise click.UsageError("give --version or --label, not both")
    with registry(ctx) as reg:
        result = api.restore(settings(ctx), name, version=version, label=label, registry=reg)
    if as_json:
        echo_json(restored_json(result))
        return
    echo_restored(result)
