"""`promptops rollback NAME`: production back to the previous release, now."""

from __future__ import annotations

from typing import Any

import click

from promptops.cli import confirm, registry, settings
from promptops.cli.output import echo_json
from promptops.cli.restore import echo_restored, restored_json


@click.command()
@click.argument("name")
@click.option("--to", "to_version", type=int, metavar="VERSION", help="Move production to this version instead.")
@click.option(
    "--allow-unreleased",
    is_flag=True,
    help="Let --to name a version the gate never released (rejected or never judged).",
)
@click.option("--dry-run", is_flag=True, help="Say what would move; move nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (needed without a terminal).")
@click.option(
    "--restore-file", is_flag=True, help="Also write the prompt's files back to the version's recorded git commit."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def rollback(
    ctx: click.Context,
    name: str,
    to_version: int | None,
    allow_unreleased: bool,
    dry_run: bool,
    yes: bool,
    restore_file: bool,
    as_json: bool,
) -> None:
    """Move `production` of prompt NAME back to the previous release (or --to VERSION).

    Prints where production was and where it is now. The version production leaves is
    remembered as rolled back from: a later sync holds that content (no evaluation, no
    promotion) until git changes the prompt; `rollback --to` that version releases it again.
    --to refuses a version the gate never released unless --allow-unreleased. With
    --restore-file the prompt's files are rewritten from the version's recorded git commit,
    so git can follow the registry (`promptops restore` does only that).
    """
    from promptops import api

    s = settings(ctx)
    if not dry_run and not yes and not confirm.interactive():
        raise click.UsageError("rollback moves production now: pass --yes to confirm without a terminal")
    with registry(ctx) as reg:
        options: dict[str, Any] = {"to_version": to_version, "allow_unreleased": allow_unreleased, "registry": reg}
        if not dry_run and not yes:
            preview = api.rollback(s, name, dry_run=True, **options)
            click.echo(_line(preview.plan, dry=True), err=True)
            confirm.ask_or_stop("Move production?")
        result = api.rollback(s, name, dry_run=dry_run, restore_file=restore_file, **options)
    if as_json:
        restored = restored_json(result.restored) if result.restored else None
        echo_json({**vars(result.plan), "applied": result.applied, "restored": restored})
        return
    click.echo(_line(result.plan, dry=dry_run))
    if result.restored is not None:
        echo_restored(result.restored)


def _line(plan: Any, *, dry: bool) -> str:
    release = f" (release-{plan.to_release})" if plan.to_release else " (never released by the gate)"
    before = f"version {plan.from_version}" if plan.from_version else "no version"
    verb = "would move" if dry else "moved"
    return f"{plan.name}: production {verb} from {before} to version {plan.to_version}{release}"
