"""The options `check` and `experiment` share for sharded, resumable and joined runs, and how a shard reports."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
RESULTS_GLOB = "*.jsonl"


class ShardType(click.ParamType):
    """`I/N`: shard I of N."""

    name = "I/N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Return the Shard that `value` names, or fail as a usage error."""
        from promptops.errors import ShardError
        from promptops.shards import Shard

        if isinstance(value, Shard):
            return value
        try:
            return Shard.parse(str(value))
        except ShardError as exc:
            self.fail(str(exc).removeprefix(f"--shard {value!r}: "), param, ctx)


def shard_options(command: F) -> F:
    """Add --shard, --results, --from and --run-key to a command."""
    decorators = [
        click.option(
            "--shard",
            type=ShardType(),
            help="Run only shard I of N of the experiments (each (item, repeat) pair by a stable hash) and write "
            "its results file; join the N files with --from.",
        ),
        click.option(
            "--results",
            "results_path",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Write every finished pair to this results file; run again with it to resume (only failed and "
            "missing pairs run). Default with --shard: promptops-results-I-of-N.jsonl.",
        ),
        click.option(
            "--from",
            "sources",
            multiple=True,
            type=click.Path(path_type=Path),
            help="Judge the joined shards instead of running: a results file or a folder of them (repeatable). "
            "Fails, naming it, on a missing, repeated or mismatched shard.",
        ),
        click.option(
            "--run-key",
            envvar="PROMPTOPS_RUN_KEY",
            metavar="KEY",
            help="Shared by the shards of one run: their traces make one Langfuse experiment run. "
            "Default: $GITHUB_RUN_ID in GitHub Actions, else the git commit.",
        ),
    ]
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


def results_files(sources: Sequence[Path]) -> tuple[Path, ...]:
    """Return the results files named: files as given, folders as their *.jsonl files in name order."""
    found: list[Path] = []
    for source in sources:
        if source.is_dir():
            inside = sorted(source.glob(RESULTS_GLOB))
            if not inside:
                raise click.BadParameter(f"{source} holds no {RESULTS_GLOB} results file", param_hint="--from")
            found += inside
        else:
            found.append(source)
    return tuple(found)


def options_from(shard: Any, results_path: Path | None, sources: Sequence[Path], run_key: str | None) -> Any:
    """Return the api's ShardOptions for these options, or None when none was given."""
    from promptops.sharded import ShardOptions

    if sources and (shard is not None or results_path is not None):
        raise click.UsageError("--from joins finished shards: give it without --shard and --results")
    if shard is None and results_path is None and not sources:
        return None
    return ShardOptions(shard, results_path, results_files(sources), run_key)


def summary_json(summary: Any) -> dict[str, Any]:
    """Return the JSON form of a ShardSummary."""
    return {
        "shard": str(summary.shard),
        "results": str(summary.path) if summary.path else None,
        "joined": [str(p) for p in summary.joined],
        "run_key": summary.run_key,
        "runs": [
            {
                "prompt": t.prompt, "subject": t.subject, "planned": t.planned, "kept": t.kept, "ran": t.ran,
                "failed": t.failed, "stopped": t.stopped,
            }
            for t in summary.runs
        ],
    }  # fmt: skip


def summary_lines(summary: Any, command: str) -> list[str]:
    """Return what a shard, a resumed run or a join says about its runs, for the terminal."""
    if summary.joined:
        lines = [f"joined {len(summary.joined)} results file(s) of run key {summary.run_key or '-'}:"]
    else:
        where = (
            f"results in {summary.path}" if summary.shard.whole else f"shard {summary.shard}: results in {summary.path}"
        )
        lines = [where + (":" if summary.runs else "; nothing to run")]
    for t in summary.runs:
        stopped = f", stopped early: {t.stopped}" if t.stopped else ""
        if summary.joined:
            lines.append(f"  {t.prompt} · {t.subject}: {t.planned} pairs, {t.failed} failed{stopped}")
        else:
            lines.append(
                f"  {t.prompt} · {t.subject}: {t.planned} pairs ({t.ran} run now, {t.kept} kept from before, "
                f"{t.failed} failed{stopped})"
            )
    if summary.partial:
        lines.append(
            f"join the {summary.shard.count} shards: promptops {command} --from FOLDER (or --from FILE, once per shard)"
        )
    return lines
