"""`promptops merge RESULTS...`: verify that results files are the shards of one run and join them."""

from __future__ import annotations

from pathlib import Path

import click

from promptops.cli.output import echo_json
from promptops.cli.sharding import results_files


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the joined run to this one results file (for `check --from` or `experiment --from`).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def merge(results: tuple[Path, ...], output: Path | None, as_json: bool) -> None:
    """Verify that RESULTS (files, or folders of *.jsonl files) are the shards of one run, and join them.

    One run: the same command, run key and runs (prompt versions, dataset, model, evaluators,
    seed) in every file; every shard 1..N exactly once; every planned (item, repeat) pair
    exactly once. Anything else fails (exit 1) with a message naming the shard. Judging needs
    the repository: `promptops check --from` (or `experiment NAME --from`) takes the shard files
    or the joined one.
    """
    from promptops import api

    outcome = api.merge(results_files(results), output)
    joined = outcome.joined
    if as_json:
        echo_json(
            {
                "command": joined.command,
                "run_key": joined.run_key,
                "shards": joined.shards,
                "files": [str(p) for p in joined.paths],
                "output": str(output) if output else None,
                "runs": [
                    {
                        "prompt": r.record.prompt,
                        "subject": r.record.subject,
                        "run_id": r.record.run_id,
                        "run_name": r.record.run_name,
                        "pairs": len(r.pairs),
                        "failed": r.failed,
                        "stopped": r.stopped,
                    }
                    for r in joined.runs
                ],
            }  # fmt: skip
        )
        return
    click.echo(f"{joined.shards} shard(s) of one `{joined.command}` run (run key {joined.run_key or '-'}):")
    for run in joined.runs:
        stopped = f", stopped early: {run.stopped}" if run.stopped else ""
        pairs = f"{len(run.pairs)} pairs, {run.failed} failed{stopped}"
        click.echo(f"  {run.record.prompt} · {run.record.subject}: {pairs}")
    if output is not None:
        click.echo(f"wrote {output}: judge it with `promptops {joined.command} --from {output}`")
