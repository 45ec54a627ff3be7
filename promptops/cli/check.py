"""`promptops check`: the read-only PR gate, with one Markdown report for the PR comment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from promptops.cli import settings
from promptops.cli.output import echo_diagnostics, echo_json, redacted
from promptops.cli.progress import progress_factory


def result_json(result: Any) -> dict[str, Any]:
    """Return the JSON form of a CheckResult."""
    from promptops.verdict_render import verdict_json

    return {
        "passed": result.passed,
        "base": result.base,
        "baseline_source": result.registry,
        "diagnostics": [d.to_dict() for d in result.diagnostics],
        "prompts": [
            {
                "name": p.name,
                "status": p.status,
                "baseline": p.baseline,
                "plan": p.plan,
                "passed": p.passed,
                "note": p.note,
                "text_diff": p.text_diff,
                "verdict": verdict_json(p.verdict) if p.verdict else None,
            }
            for p in result.prompts
        ],
    }


@click.command()
@click.option("--base", metavar="REF", help="Compare with this ref (default: the merge-base with the default branch).")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the Markdown report (the PR comment) to this file.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json", "github"]),
    default="text",
    show_default=True,
    help="Output on stdout; github adds annotations on the offending file lines.",
)
@click.option("--record", is_flag=True, help="Store the experiment runs in the registry's trace store for inspection.")
@click.pass_context
def check(ctx: click.Context, base: str | None, report_path: Path | None, fmt: str, record: bool) -> None:
    """Gate a pull request: validate, then judge every prompt the branch changes.

    Each changed prompt's experiment runs for the candidate and the baseline: the `production`
    version when the registry is reachable, else the prompt as it is on the base ref (fork PRs
    need no secrets). Writes nothing to any registry. Appends the report to $GITHUB_STEP_SUMMARY
    when set. Exit 1 if validation fails or any changed prompt fails its gate.
    """
    from promptops import api, report
    from promptops.verdict_render import verdict_text

    s = settings(ctx)
    result = api.check(s, base=base, record=record, progress=progress_factory())
    click.echo(f"baseline source: {result.registry}", err=True)
    markdown = report.markdown(
        result.prompts,
        result.diagnostics,
        base=result.base,
        registry=result.registry,
        redact_patterns=s.config.redact_patterns,
    )
    if report_path is not None:
        report_path.write_text(markdown, "utf-8")
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        with open(summary_file, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
    if fmt == "json":
        echo_json(result_json(result), redact_patterns=s.config.redact_patterns)
    elif fmt == "markdown":
        click.echo(markdown)
    else:
        echo_diagnostics(
            [d for d in result.diagnostics if d.severity == "error"], "github" if fmt == "github" else "text"
        )
        for p in result.prompts:
            # Masked like the report: CI logs are as public as the PR comment.
            shown = verdict_text(p.verdict) if p.verdict else f"{p.name}: no gate ({p.note})"
            click.echo(redacted(shown, s.config.redact_patterns))
            click.echo("")
        errors = sum(d.severity == "error" for d in result.diagnostics)
        counted = f"{errors} validation error(s)" if errors else f"{len(result.prompts)} changed prompt(s)"
        click.echo(f"check {'passed' if result.passed else 'failed'}: {counted}")
    ctx.exit(0 if result.passed else 1)
