"""The command line: one module per command. The only place that prints, and the only error boundary."""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from promptops import __version__
from promptops.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, PromptopsError

# name -> module under promptops.cli; imported only when the command runs or its help is shown.
COMMANDS = {
    "validate": "validate",
    "render": "render",
    "schema": "schema",
    "diff": "diff",
    "status": "status",
    "push": "push",
    "experiment": "experiment",
    "sync": "sync",
    "rollback": "rollback",
    "restore": "restore",
    "import": "import_prompts",
    "pull": "pull",
    "history": "history",
    "check": "check",
    "init": "init",
    "trace-demo": "trace_demo",
}

EPILOG = """\b
Exit codes: 0 ok, 1 problems found (invalid prompts, failed gate, registry refused),
2 usage error (and for `diff`: changes pending), 3 internal error (details in a crash log),
130 interrupted."""


class LazyGroup(click.Group):
    """A group whose subcommands are imported on demand, so `promptops --help` stays fast."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        command: click.Command = getattr(importlib.import_module(f"promptops.cli.{module}"), module)
        return command


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="promptops")
@click.option(
    "--project",
    "project",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="PROMPTOPS_PROJECT",
    help="Project folder (default: the nearest folder above the current one with a promptops config).",
)
@click.option(
    "--registry",
    type=click.Choice(["auto", "local", "langfuse"]),
    envvar="PROMPTOPS_REGISTRY",
    help="Registry to use; auto = Langfuse when LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY are set, else local.",
)
@click.option(
    "--no-cache",
    is_flag=True,
    envvar="PROMPTOPS_NO_CACHE",
    help="Read everything afresh: no cached registry state (.promptops/cache/).",
)
@click.pass_context
def cli(ctx: click.Context, project: Path | None, registry: str | None, no_cache: bool) -> None:
    """GitOps for LLM prompts: validate, diff, experiment and gate prompt releases on Langfuse."""
    ctx.obj = {"project": project, "registry": registry, "cache": not no_cache}


def settings(ctx: click.Context) -> Any:
    """Return the api Settings for this invocation (found from --project or the current folder)."""
    from promptops import api

    obj = ctx.find_root().obj or {}
    if "settings" not in obj:
        start = obj.get("project") or Path.cwd()
        obj["settings"] = api.load_settings(Path(start), registry=obj.get("registry"), cache=obj.get("cache", True))
    return obj["settings"]


@contextmanager
def registry(ctx: click.Context) -> Iterator[Any]:
    """Open this invocation's registry and say on stderr which one it is, before any work starts."""
    from promptops import api

    with api.opened_registry(settings(ctx)) as opened:
        click.echo(f"registry: {opened.describe()}", err=True)
        yield opened


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and turn every outcome into a message and a documented exit code."""
    try:
        code = cli.main(args=argv, prog_name="promptops", standalone_mode=False)
    except PromptopsError as exc:
        click.echo(f"error: {_safe(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code if exc.exit_code else EXIT_USAGE)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # the last resort: a bug in promptops, never a traceback on screen
        log = _crash_log(exc)
        click.echo(f"internal error: {type(exc).__name__}: {_safe(str(exc))} (details in {log})", err=True)
        sys.exit(EXIT_INTERNAL)
    sys.exit(code if isinstance(code, int) else 0)


def _safe(message: str) -> str:
    """Mask credentials in a message before it reaches a terminal or a CI log."""
    from promptops.sensitive import redact_secrets

    return redact_secrets(message)


def _crash_log(exc: BaseException) -> str:
    from promptops.sensitive import redact

    folder = Path(os.environ.get("PROMPTOPS_HOME", tempfile.gettempdir()))
    path = folder / "promptops-crash.log"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        text = "".join(traceback.format_exception(exc))
        path.write_text(f"promptops {__version__}\n{redact(text)}", "utf-8")
    except OSError:
        return "<could not write a crash log>"
    return str(path)
