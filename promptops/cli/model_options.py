"""The --responses option that experiment, check and sync share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

RESPONSES_HELP = (
    "Recorded model responses: replay answers from recordings and never calls a model (a miss fails that item), "
    "record calls and stores, auto replays what is recorded and records the rest, off ignores them. "
    "Default: `responses.mode` of the config, else auto. mock-llm-v1 is never recorded."
)


def responses_option(command: F) -> F:
    """Add --responses record|replay|auto|off to a command."""
    option = click.option(
        "--responses",
        type=click.Choice(["record", "replay", "auto", "off"]),
        default=None,
        help=RESPONSES_HELP,
    )
    decorated: F = option(command)
    return decorated
