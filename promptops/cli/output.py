"""Shared rendering helpers for commands: JSON to stdout, diagnostics in text, JSON or GitHub form."""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import click

from promptops.model import Diagnostic


def echo_json(value: Any, *, redact_patterns: Sequence[str] | None = None) -> None:
    """Print a value as indented JSON on stdout; with `redact_patterns`, masked like reports (model outputs)."""
    if redact_patterns is not None:
        from promptops.sensitive import redact_value

        value = redact_value(value, redact_patterns)
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def redacted(text: str, patterns: Sequence[str]) -> str:
    """Return text with personal data, credentials and the project's own patterns masked."""
    from promptops.sensitive import redact

    return redact(text, patterns)


def diagnostic_line(d: Diagnostic) -> str:
    """Return `path:line:col: severity[code]: message`."""
    return f"{d.location()}: {d.severity}[{d.code}]: {d.message}"


def github_annotation(d: Diagnostic) -> str:
    """Return a GitHub workflow-command annotation for a diagnostic."""
    level = "error" if d.severity == "error" else "warning"
    properties: dict[str, Any] = {"file": d.path, "line": d.line, "col": d.col, "title": f"promptops {d.code}"}
    return workflow_command(level, properties, d.message)


def workflow_command(command: str, properties: Mapping[str, Any], message: Any) -> str:
    """Return `::command key=value,...::message` escaped exactly as GitHub's toolkit does (@actions/core command.ts).

    Properties that are empty are left out, values that are not strings are JSON, and escaping keeps everything
    on one line: a value can never end the command or start another one.
    """
    props = ",".join(
        f"{key}={_escape_property(_command_value(value))}" for key, value in properties.items() if value
    )
    return f"::{command}{' ' + props if props else ''}::{_escape_data(_command_value(message))}"


def _command_value(value: Any) -> str:
    """toCommandValue: None is empty, a string as it is, anything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


_stopped: list[str] = []  # the token of the stop-commands block open now, if any


@contextmanager
def commands_stopped(enabled: bool = True) -> Iterator[None]:
    """Print what follows between stop-commands markers, so GitHub's runner executes none of it.

    The runner reads any log line that starts with `::` (after spaces) as a workflow command, and promptops prints
    what a pull request wrote: item ids, metric names, model outputs, messages quoting files. The token is random,
    so no printed text can end the block early. Blocks may nest; only the outermost prints markers.
    """
    if not enabled or _stopped:
        yield
        return
    _stop(secrets.token_hex(16))
    try:
        yield
    finally:
        click.echo(f"::{_stopped.pop()}::")
        _flush()


def echo_command(line: str) -> None:
    """Print a workflow command of ours (an annotation) so that the runner executes it, even in a stopped block."""
    if not _stopped:
        click.echo(line)
        return
    click.echo(f"::{_stopped.pop()}::")
    click.echo(line)
    _stop(secrets.token_hex(16))


def _stop(token: str) -> None:
    _stopped.append(token)
    click.echo(f"::stop-commands::{token}")
    _flush()


def _flush() -> None:
    # stdout to a pipe is block-buffered and stderr is not: a marker must reach the log before what follows it.
    sys.stdout.flush()


def echo_diagnostics(diagnostics: Iterable[Diagnostic], fmt: str) -> None:
    """Print diagnostics to stdout in the chosen format (text, json or github)."""
    items = list(diagnostics)
    if fmt == "json":
        echo_json([d.to_dict() for d in items])
        return
    for d in items:
        if fmt == "github":
            echo_command(github_annotation(d))
        else:
            click.echo(diagnostic_line(d))
