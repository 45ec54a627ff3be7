"""`promptops init`: scaffold promptops into the repository here."""

from __future__ import annotations

from pathlib import Path

import click

NEXT_STEPS = """
Next:
  promptops validate                            check the new files
  promptops render hello --var country=France   see what the app gets at run time
  promptops experiment hello                    score hello on its dataset with mock-llm-v1
  git add {paths} && git commit -m "Add promptops"
Then add the repository secrets LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY and LANGFUSE_BASE_URL
(docs/github.md) and open a pull request that changes {prompts_dir}/hello.yaml."""


@click.command()
@click.option("--force", is_flag=True, help="Overwrite the scaffold's files if they exist (a config is always kept).")
@click.option(
    "--spec",
    envvar="PROMPTOPS_SPEC",
    metavar="REQUIREMENT",
    help="The pip requirement the workflow installs promptops from, e.g. "
    "'promptops @ git+https://<host>/<owner>/promptops@<commit>' (default: where this promptops came from).",
)
@click.pass_context
def init(ctx: click.Context, force: bool, spec: str | None) -> None:
    """Scaffold promptops here: config, a first prompt with dataset and partial, and the GitHub workflow.

    Writes promptops.yaml (or appends [tool.promptops] to an existing pyproject.toml), prompts/hello.yaml,
    prompts/datasets/hello.yaml, prompts/_partials/voice.jinja, the JSON Schemas for editors in
    prompts/.schemas/, and .github/workflows/promptops.yml, and adds .promptops/ and .venv/ to .gitignore.
    The workflow installs promptops from --spec; without it, from where this promptops was installed, if
    a runner can reach that (a git or https URL); else init says what to give and writes nothing. If any
    of the files exists it lists them and writes nothing, unless --force. Uses --project DIR, else the
    current folder.
    """
    from promptops import scaffold

    root = (ctx.find_root().obj or {}).get("project") or Path.cwd()
    result = scaffold.scaffold(Path(root), force=force, spec=spec)
    for change in result.changes:
        click.echo(f"{change.action:<12}{change.path}")
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    paths = " ".join(c.path for c in result.changes if c.action != "kept")
    click.echo(NEXT_STEPS.format(paths=paths, prompts_dir=result.prompts_dir))
