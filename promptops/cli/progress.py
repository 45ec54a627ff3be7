"""A progress bar on stderr, drawn only when stderr is a terminal (CI logs stay clean)."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click


def progress_factory() -> Callable[[str], Callable[[int, int], None]] | None:
    """Return a factory of per-run progress callbacks, or None when stderr is not a terminal."""
    if not sys.stderr.isatty():
        return None

    def start(title: str) -> Callable[[int, int], None]:
        def update(done: int, total: int) -> None:
            width = 24
            filled = width * done // total if total else width
            end = "\n" if done >= total else ""
            click.echo(f"\r{title} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", err=True, nl=False)
            if end:
                click.echo("", err=True)

        return update

    return start
