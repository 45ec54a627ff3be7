"""The command line: one module per command. The only place that prints, and the only error boundary."""

from __future__ import annotations

import importlib
import json
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
from promptops.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OUTPUT_CLOSED, EXIT_USAGE, PromptopsError

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
    "merge": "merge",
    "init": "init",
    "trace-demo": "trace_demo",
}

EPILOG = """\b
Global options (--project, --registry) may also follow the command.
Exit codes: 0 ok, 1 problems found (invalid prompts, failed gate, registry refused),
2 changes pending (`diff` only), 3 internal error (details in a crash log),
64 usage error (a bad command line), 130 interrupted, 141 output closed early (`| head`)."""

PROJECT_HELP = "Project folder (default: the nearest folder above the current one with a promptops config)."
REGISTRY_HELP = "Registry to use; auto = Langfuse when LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY are set, else local."
NO_CACHE_HELP = "Read everything afresh: no cached results of unchanged files or of the registry (.promptops/cache/)."
REGISTRY_CHOICE = click.Choice(["auto", "local", "langfuse"])
PROJECT_TYPE = click.Path(exists=True, file_okay=False, path_type=Path)


class OutputClosed(Exception):
    """Standard output's reader went away (a BrokenPipeError, which Click would turn into exit code 1)."""


class _PipeBug(Exception):
    """Carries a BrokenPipeError from elsewhere than the output past Click, which would swallow it."""


def _output_gone() -> bool:
    """Tell whether the reader of stdout or stderr has gone (a broken pipe elsewhere is a bug, not this)."""
    import select

    try:
        poller = select.poll()
        for stream in (sys.__stdout__, sys.__stderr__):
            if stream is not None:
                poller.register(stream.fileno(), select.POLLOUT)
        return any(event & (select.POLLERR | select.POLLHUP) for _, event in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no such descriptor, or no poll() on this platform
        return False


class LazyGroup(click.Group):
    """A group whose subcommands are imported on demand, so `promptops --help` stays fast."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            raise (OutputClosed() if _output_gone() else _PipeBug()) from exc

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        command: click.Command = getattr(importlib.import_module(f"promptops.cli.{module}"), module)
        _adopt_global_options(command)
        return command


def _remember(key: str) -> Any:
    """Return an option callback that stores a given value in the invocation's shared state under `key`."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is not None:
            ctx.find_root().ensure_object(dict)[key] = value
        return value

    return callback


def _forget_cache(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value:
        ctx.find_root().ensure_object(dict)["cache"] = False
    return value


def _note_json(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    # So the error boundary answers a JSON caller in JSON too.
    if value is True or value == "json":
        ctx.find_root().ensure_object(dict)["json"] = True
    return value


def _adopt_global_options(command: click.Command) -> None:
    """Let --project and --registry follow the command too, as users type them, and note JSON output."""
    names = {opt for param in command.params for opt in getattr(param, "opts", ())}
    if "--project" not in names:
        command.params.append(
            click.Option(["--project"], type=PROJECT_TYPE, expose_value=False, callback=_remember("project"),
                         help=PROJECT_HELP)
        )  # fmt: skip
    if "--registry" not in names:
        command.params.append(
            click.Option(["--registry"], type=REGISTRY_CHOICE, expose_value=False, callback=_remember("registry"),
                         help=REGISTRY_HELP)
        )  # fmt: skip
    if "--no-cache" not in names:
        command.params.append(
            click.Option(["--no-cache"], is_flag=True, default=None, expose_value=False,
                         callback=_forget_cache, help=NO_CACHE_HELP)
        )  # fmt: skip
    for param in command.params:
        if param.callback is None and ({"--json", "--format"} & set(getattr(param, "opts", ()))):
            param.callback = _note_json


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="promptops")
@click.option("--project", "project", type=PROJECT_TYPE, envvar="PROMPTOPS_PROJECT", help=PROJECT_HELP)
@click.option("--registry", type=REGISTRY_CHOICE, envvar="PROMPTOPS_REGISTRY", help=REGISTRY_HELP)
@click.option("--no-cache", is_flag=True, envvar="PROMPTOPS_NO_CACHE", help=NO_CACHE_HELP)
@click.pass_context
def cli(ctx: click.Context, project: Path | None, registry: str | None, no_cache: bool) -> None:
    """GitOps for LLM prompts: validate, diff, experiment and gate prompt releases on Langfuse."""
    # Shared with main(), which reads it to answer in JSON; options after the command update it later.
    ctx.ensure_object(dict).update(project=project, registry=registry, cache=not no_cache)


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
    from promptops.cachefile import one_command
    from promptops.cli.masked import masked_output
    from promptops.cli.output import commands_stopped

    # Credentials are masked in everything printed, by us or by code we run; in GitHub Actions, whatever is
    # printed is also kept from being read as a workflow command (annotations are let through one by one).
    with masked_output(), commands_stopped(os.environ.get("GITHUB_ACTIONS") == "true"), one_command():
        _main(argv)


def _main(argv: list[str] | None) -> None:
    state: dict[str, Any] = {}
    try:
        code = cli.main(args=argv, prog_name="promptops", standalone_mode=False, obj=state)
    except PromptopsError as exc:
        _fail(state, f"error: {_safe(str(exc))}", exc.exit_code, type(exc).__name__)
    except click.exceptions.Abort:
        _fail(state, "interrupted", EXIT_INTERRUPTED, "Interrupted")
    except KeyboardInterrupt:
        _fail(state, "interrupted", EXIT_INTERRUPTED, "Interrupted")
    except click.ClickException as exc:
        exc.show()
        # Click's own usage code is 2, which `diff` uses for "changes pending": a bad command line gets 64.
        usage = isinstance(exc, click.UsageError)
        _fail(state, None, EXIT_USAGE if usage else exc.exit_code or 1, "UsageError" if usage else "Error", exc)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except OutputClosed:
        # Nothing more can be said on stdout; what is still buffered goes nowhere rather than into a traceback
        # at exit. Not 0: a `check | head` under pipefail must not read as a passing gate.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.__stdout__.fileno() if sys.__stdout__ else 1)
        sys.exit(EXIT_OUTPUT_CLOSED)
    except (Exception, SystemExit, GeneratorExit) as caught:  # the last resort: a bug, never a traceback on screen
        # SystemExit too: Click returns exit codes here instead of raising, so one reaching this point was raised
        # by code promptops called (a custom evaluator's sys.exit(0) must never become a passing gate).
        bug = caught.__cause__ if isinstance(caught, _PipeBug) and caught.__cause__ is not None else caught
        log = _crash_log(bug)
        message = f"internal error: {type(bug).__name__}: {_safe(str(bug))} (details in {log})"
        _fail(state, message, EXIT_INTERNAL, "InternalError")
    sys.exit(code if isinstance(code, int) else 0)


def _fail(
    state: dict[str, Any], message: str | None, code: int, kind: str, shown: click.ClickException | None = None
) -> None:
    """Print the failure on stderr (already done when `message` is None), in JSON on stdout too when asked."""
    if message is not None:
        click.echo(message, err=True)
    if state.get("json"):
        text = message if shown is None else _safe(shown.format_message())
        error = {"kind": kind, "message": (text or "").removeprefix("error: "), "exit_code": code}
        click.echo(json.dumps({"error": error}, indent=2, ensure_ascii=False))
    sys.exit(code)


def _safe(message: str) -> str:
    """Mask credentials in a message before it reaches a terminal or a CI log."""
    from promptops.sensitive import redact_secrets

    return redact_secrets(message)


def _crash_log(exc: BaseException) -> str:
    from promptops.sensitive import configured_patterns, redact

    folder = Path(os.environ.get("PROMPTOPS_HOME", tempfile.gettempdir()))
    path = folder / "promptops-crash.log"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        text = "".join(traceback.format_exception(exc))
        path.write_text(f"promptops {__version__}\n{redact(text, configured_patterns())}", "utf-8")
    except OSError:
        return "<could not write a crash log>"
    return str(path)
