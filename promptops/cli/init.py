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
@click.pass_context
def init(ctx: click.Context, force: bool) -> None:
    """Scaffold promptops here: config, a first prompt with dataset and partial, and the GitHub workflow.

    Writes promptops.yaml (or appends [tool.promptops] to an existing pyproject.toml), prompts/hello.yaml,
    prompts/datasets/hello.yaml, prompts/_partials/voice.jinja and .github/workflows/promptops.yml, and
    adds .promptops/ to .gitignore. If any of those files exists it lists them and writes nothing, unless
    --force. Uses --project DIR, else the current folder.
    """
    from promptops import scaffold

    root = (ctx.find_root().obj or {}).get("project") or Path.cwd()
    result = scaffold.scaffold(Path(root), force=force)
    for change in result.changes:
        click.echo(f"{change.action:<12}{change.path}")
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    paths = " ".join(c.path for c in result.changes if c.action != "kept")
    click.echo(NEXT_STEPS.format(paths=paths, prompts_dir=result.prompts_dir))
