"""`--html FILE` and `--junit FILE`: the report files check, sync and experiment write besides their output."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from promptops.runview import RunView

F = TypeVar("F", bound=Callable[..., Any])


def report_options(command: F) -> F:
    """Add --html and --junit to a command (its callback receives html_path and junit_path)."""
    junit = click.option(
        "--junit",
        "junit_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Write a JUnit XML file for CI test reporters: one test case per prompt gate.",
    )
    html = click.option(
        "--html",
        "html_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Write a self-contained HTML report: charts and every item side by side (opens offline).",
    )
    return html(junit(command))


def wanted(html_path: Path | None, junit_path: Path | None) -> bool:
    """Return whether any report file was asked for (then the command also collects Langfuse trace links)."""
    return html_path is not None or junit_path is not None


def write_reports(
    view: Callable[[], RunView], html_path: Path | None, junit_path: Path | None, redact_patterns: Sequence[str]
) -> None:
    """Write the asked-for report files, masked like the PR comment; name each on stderr."""
    if not wanted(html_path, junit_path):
        return
    built = view()
    if html_path is not None:
        from promptops.htmlreport import html_report

        _write(html_path, html_report(built, redact_patterns))
        click.echo(f"HTML report: {html_path}", err=True)
    if junit_path is not None:
        from promptops.junit import junit_xml

        _write(junit_path, junit_xml(built, redact_patterns))
        click.echo(f"JUnit report: {junit_path}", err=True)


def _write(path: Path, text: str) -> None:
    from promptops.errors import PromptopsError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    except OSError as exc:
        raise PromptopsError(f"cannot write the report {path}: {exc.strerror or exc}") from exc
