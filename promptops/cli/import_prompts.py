"""`promptops import`: write the registry's prompts (and datasets) into prompt files that render back exactly."""

from __future__ import annotations

import shlex

import click

from promptops.cli import registry, settings
from promptops.cli.output import echo_json


@click.command("import")
@click.argument("names", nargs=-1)
@click.option(
    "--label",
    default="production",
    show_default=True,
    help="Import the version holding this label (production falls back to the newest when none holds it).",
)
@click.option("--datasets", is_flag=True, help="Also write the registry's datasets to prompts/datasets/.")
@click.option("--dry-run", is_flag=True, help="Say what would be written; write nothing.")
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def import_prompts(
    ctx: click.Context, names: tuple[str, ...], label: str, datasets: bool, dry_run: bool, force: bool, as_json: bool
) -> None:
    """Bring prompts from the registry into git: one prompt file per prompt (or only NAMES).

    Each file renders to the stored version byte for byte (checked before anything is written):
    `{{var}}` placeholders become declared runtime variables, text Jinja would read as syntax
    is escaped, prompt references stay references, config, tags and extra labels are kept,
    and the version's commit message goes into the description. A prompt gets an experiment
    on a dataset named like it (with --datasets, or one already in prompts/datasets/), else an
    explicit skip that says why. Existing files are left alone unless --force. Afterwards
    `promptops diff` finds every imported prompt in sync, and the first sync creates nothing.
    Exit 1 when a file could not be imported exactly or exists already.
    """
    from promptops import api

    with registry(ctx) as reg:
        result = api.import_prompts(
            settings(ctx), names, label=label, datasets=datasets, dry_run=dry_run, force=force, registry=reg
        )
    if as_json:
        echo_json({"dry_run": result.dry_run, "files": [vars(f) for f in result.files]})
    else:
        for f in result.files:
            what = f"{f.kind} {f.name}" + (f" version {f.version}" if f.version is not None else "")
            note = f" ({f.note})" if f.note else ""
            click.echo(f"{f.outcome:<11} {f.path}  {what}{note}")
        written = [f.path for f in result.files if f.outcome == "written"]
        if written:
            click.echo(f"\nnext: review the files, describe the variables, then\n  git add {shlex.join(written)}")
        elif not result.files:
            click.echo("the registry has no prompts to import")
    ctx.exit(1 if result.failed else 0)
