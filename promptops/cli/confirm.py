"""Ask a person before writing to a shared registry; never ask a script or CI (they pass --yes or have no TTY)."""

from __future__ import annotations

import sys
from typing import Any

import click


def interactive() -> bool:
    """Return whether a person can answer: stdin and stderr are terminals."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def must_ask(registry: Any, yes: bool) -> bool:
    """Return whether to show the plan and ask: a shared registry (Langfuse), a person at the terminal, no --yes."""
    return registry.name != "local" and not yes and interactive()


def ask_or_stop(question: str) -> None:
    """Ask on stderr; on no, say that nothing changed and exit 1."""
    if not click.confirm(question, err=True, default=False):
        click.echo("nothing changed", err=True)
        raise click.exceptions.Exit(1)
