"""Shared rendering helpers for commands: JSON to stdout, diagnostics in text, JSON or GitHub form."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
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
    props = [f"file={_escape_property(d.path)}"]
    if d.line is not None:
        props.append(f"line={d.line}")
    if d.col is not None:
        props.append(f"col={d.col}")
    props.append(f"title={_escape_property('promptops ' + d.code)}")
    return f"::{level} {','.join(props)}::{_escape_data(d.message)}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def echo_diagnostics(diagnostics: Iterable[Diagnostic], fmt: str) -> None:
    """Print diagnostics to stdout in the chosen format (text, json or github)."""
    items = list(diagnostics)
    if fmt == "json":
        echo_json([d.to_dict() for d in items])
        return
    for d in items:
        click.echo(github_annotation(d) if fmt == "github" else diagnostic_line(d))
