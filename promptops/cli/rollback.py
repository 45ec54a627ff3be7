"""`promptops rollback NAME`: production back to the previous release, now."""

from __future__ import annotations

import sys

import click

from promptops.cli import registry, settings
from promptops.cli.output import echo_json


@click.command()
@click.argument("name")
@click.option("--to", "to_version", type=int, metavar="VERSION", help="Move production to this version instead.")
@click.option("--dry-run", is_flag=True, help="Say what would move; move nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (needed without a terminal).")
@click.option(
    "--restore-file", is_flag=True, help="Also write the prompt file back to its content at the version's git commit."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def rollback(
    ctx: click.Context, name: str, to_version: int | None, dry_run: bool, yes: bool, restore_file: bool, as_json: bool
) -> None:
    """Move `production` of prompt NAME back to the previous release (or --to VERSION).

    Prints where production was and where it is now. The rolled-back version is not promoted
    again by a later sync unless the prompt changes in git. With --restore-file the prompt file
    is rewritten to the version's recorded git commit, so git can follow the registry.
    """
    from promptops import api

    s = settings(ctx)
    if not dry_run and not yes and not sys.stdin.isatty():
        raise click.UsageError("rollback moves production now: pass --yes to confirm without a terminal")
    with registry(ctx) as reg:
        if not dry_run and not yes:
            preview = api.rollback(s, name, to_version=to_version, dry_run=True, registry=reg)
            click.echo(_line(preview.plan, dry=True), err=True)
            if not click.confirm("Move production?", err=True):
                raise click.exceptions.Exit(1)
        result = api.rollback(s, name, to_version=to_version, dry_run=dry_run, restore_file=restore_file, registry=reg)
    if as_json:
        echo_json({**vars(result.plan), "applied": result.applied, "restored_file": result.restored_file})
        return
    click.echo(_line(result.plan, dry=dry_run))
    if result.restored_file:
        click.echo(f"restored {result.restored_file} from git; commit it so git follows the registry")


def _line(plan: object, *, dry: bool) -> str:
    release = f" (release-{plan.to_release})" if plan.to_release else ""  # type: ignore[attr-defined]
    before = f"version {plan.from_version}" if plan.from_version else "no version"  # type: ignore[attr-defined]
    verb = "would move" if dry else "moved"
    return f"{plan.name}: production {verb} from {before} to version {plan.to_version}{release}"  # type: ignore[attr-defined]
