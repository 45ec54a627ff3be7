"""`promptops check`: the read-only PR gate, with one Markdown report for the PR comment."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from promptops.cli import settings
from promptops.cli.model_options import responses_option
from promptops.cli.output import (
    commands_stopped,
    echo_command,
    echo_diagnostics,
    echo_json,
    github_annotation,
    redacted,
)
from promptops.cli.progress import progress_factory
from promptops.cli.reports import report_options, wanted, write_reports
from promptops.cli.sharding import options_from, shard_options, summary_json, summary_lines
from promptops.model import Diagnostic


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
                "evaluated": p.evaluated,
                "note": p.note,
                "error": p.error or None,
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
@report_options
@responses_option
@shard_options
@click.option(
    "--custom-code",
    type=click.Choice(["any", "base-only"]),
    envvar="PROMPTOPS_CUSTOM_CODE",
    help="base-only: refuse custom module:function code the base branch does not already have (the base "
    "branch's check.custom_code: base-only does the same; `any` cannot loosen it).",
)
@click.pass_context
def check(
    ctx: click.Context,
    base: str | None,
    report_path: Path | None,
    fmt: str,
    record: bool,
    html_path: Path | None,
    junit_path: Path | None,
    responses: str | None,
    shard: Any,
    results_path: Path | None,
    sources: tuple[Path, ...],
    run_key: str | None,
    custom_code: str | None,
) -> None:
    """Gate a pull request: validate, then judge every prompt the branch changes.

    Each changed prompt's experiment runs for the candidate and the baseline: the `production`
    version when the registry is reachable, else the prompt as it is on the base ref (fork PRs
    need no secrets). With a real model, recorded responses answer what they can (the baseline main
    recorded); a candidate that cannot run here (no key) is "not evaluated". Writes nothing to any
    registry. Appends the report to $GITHUB_STEP_SUMMARY when set. Exit 1 if validation fails or
    any changed prompt fails its gate or is not evaluated.

    With --shard I/N it runs one shard of the experiments and writes its results file, without a
    verdict; --from judges the joined shards, with the report an unsharded check gives
    (docs/sharding.md).
    """
    from promptops import api, report, runview
    from promptops.errors import PromptopsError
    from promptops.verdict_render import verdict_text

    shards = options_from(shard, results_path, sources, run_key)
    partial = shard is not None and not shard.whole
    if partial and (report_path or html_path or junit_path):
        raise click.UsageError("a shard has no verdict and no report: join the shards with `check --from`")
    s = settings(ctx)
    links = wanted(html_path, junit_path)
    try:
        result = api.check(
            s, base=base, record=record, progress=progress_factory(), trace_links=links, responses=responses,
            shards=shards,
            custom_code=custom_code,
        )  # fmt: skip
    except PromptopsError as exc:  # e.g. keys Langfuse rejects: annotate it too, then the boundary reports it
        if fmt == "github":
            echo_command(github_annotation(Diagnostic(s.config.source or ".", None, None, "check", "error", str(exc))))
        raise
    click.echo(f"baseline source: {result.registry}", err=True)
    if result.shards is not None:
        if result.shards.partial:
            _echo_shard(result, fmt, s.config.redact_patterns)
            ctx.exit(0 if not any(d.severity == "error" for d in result.diagnostics) else 1)
        for line in summary_lines(result.shards, "check"):
            click.echo(line, err=True)
    markdown = report.markdown(
        result.prompts,
        result.diagnostics,
        base=result.base,
        registry=result.registry,
        redact_patterns=s.config.redact_patterns,
    )
    if report_path is not None:
        report_path.write_text(markdown, "utf-8")
    write_reports(lambda: runview.from_check(result), html_path, junit_path, s.config.redact_patterns)
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        with open(summary_file, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
    if fmt == "json":
        echo_json(result_json(result), redact_patterns=s.config.redact_patterns)
    elif fmt == "markdown":
        click.echo(markdown)
    else:
        # Masked like the report (personal data, credentials, redact.patterns): a CI log is as public as the PR.
        masked = [replace(d, message=redacted(d.message, s.config.redact_patterns)) for d in result.diagnostics]
        echo_diagnostics(masked, "github" if fmt == "github" else "text")
        if fmt == "github":
            for annotation in _gate_annotations(result, s.config.redact_patterns):
                echo_command(annotation)
        with commands_stopped(fmt == "github"):  # verdicts quote PR data: none of it may become a command
            for p in result.prompts:
                # Masked like the report: CI logs are as public as the PR comment.
                shown = verdict_text(p.verdict) if p.verdict else f"{p.name}: no gate ({p.note})"
                if not p.evaluated:
                    shown = f"{p.name}: NOT EVALUATED: {p.note}"
                if p.error:
                    shown = f"{p.name}: FAILED, the gate could not finish: {p.error}"
                click.echo(redacted(shown, s.config.redact_patterns))
                click.echo("")
            cost = report.cost_line(result.prompts)
            if cost:
                click.echo(cost.replace("**", ""))
            click.echo(f"check {'passed' if result.passed else 'failed'}: {_counted(result)}")
    ctx.exit(0 if result.passed else 1)


def _counted(result: Any) -> str:
    errors = sum(d.severity == "error" for d in result.diagnostics)
    if errors:
        return f"{errors} validation error(s)"
    failed = sum(not p.passed for p in result.prompts)
    changed = f"{len(result.prompts)} changed prompt(s)"
    return f"{failed} of {changed} failed the gate" if failed else changed


def _gate_annotations(result: Any, patterns: Any) -> list[str]:
    """Return the workflow annotations of a check: a failed gate as an error on its prompt file, a fallback
    to the base ref as a warning."""
    found = [
        Diagnostic(p.path or ".", p.line, None, "gate", "error", redacted(f"{p.name}: {why}", patterns))
        for p in result.prompts
        if not p.passed and (why := p.error or (p.verdict.reason if p.verdict is not None else p.blocked or p.note))
    ]
    if result.fallback:
        message = f"the baseline came from the base ref, not the registry: {result.fallback}"
        found.append(Diagnostic(".", None, None, "baseline", "warning", message))
    return [github_annotation(d) for d in found]


def _echo_shard(result: Any, fmt: str, redact_patterns: Any) -> None:
    """Print a shard's outcome: its results file and runs (a shard judges nothing), or why nothing ran."""
    if fmt == "json":
        data = {**summary_json(result.shards), "diagnostics": [d.to_dict() for d in result.diagnostics]}
        echo_json(data, redact_patterns=redact_patterns)
        return
    echo_diagnostics(result.diagnostics, "github" if fmt == "github" else "text")
    for line in summary_lines(result.shards, "check"):
        click.echo(redacted(line, redact_patterns))
