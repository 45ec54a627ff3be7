"""merge: prove that results files are the shards of one run, and join them into one results file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from promptops.shardjoin import Joined


@dataclass(frozen=True)
class MergeResult:
    """The joined run, and the whole results file it was written to (if one was asked for)."""

    joined: Joined
    output: Path | None


def merge(paths: Sequence[Path], output: Path | None = None) -> MergeResult:
    """Verify that `paths` are every shard of one run, each once, with every planned pair; join them into `output`."""
    from promptops import resultsfile
    from promptops.shardjoin import join

    joined = join([resultsfile.read(path) for path in paths])
    if output is not None:
        resultsfile.write(joined.as_file(output))
    return MergeResult(joined, output)
