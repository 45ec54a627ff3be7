"""The partition of an experiment's plan into shards: which (item, repeat) pairs shard I of N runs.

A pair's shard is a hash of its item id and repeat, never its position: adding, removing or reordering items
moves no other pair, and baseline and candidate (any two runs on the same dataset) split the same way, so every
shard holds both halves of each comparison. Pure.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from promptops.errors import ShardError

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (1-based, like `--shard 2/4`)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise ShardError(f"shard {self.index}/{self.count}: the index must be between 1 and {self.count}")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """Return the shard that `I/N` names, e.g. "2/4"."""
        match = _SPEC.match(text)
        if match is None:
            raise ShardError(f"--shard {text!r}: give I/N, e.g. 2/4 for the second of four shards")
        return cls(int(match[1]), int(match[2]))

    @property
    def whole(self) -> bool:
        """Return whether this shard is the whole plan (1/1)."""
        return self.count == 1

    def owns(self, item_id: str, repeat: int) -> bool:
        """Return whether the pair (item, repeat) belongs to this shard."""
        return shard_of(item_id, repeat, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


WHOLE = Shard(1, 1)


def shard_of(item_id: str, repeat: int, count: int) -> int:
    """Return the shard (1..count) a pair belongs to: sha256 of "item id, repeat", reduced modulo count."""
    digest = hashlib.sha256(f"{item_id}\x1f{repeat}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count + 1
