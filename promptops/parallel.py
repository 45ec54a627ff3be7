"""Spread many independent file checks over the machine's cores, the way ruff and pre-commit do.

Loading and checking one prompt file depends on that file (and the partials it includes) only, so a large
validation runs them in forked worker processes, each taking every n-th item, and puts the answers back in
order: the result is the one a single process gives. Workers are forked (they inherit the loaded project and
the imports, so nothing is sent to them but an index) only where that is safe: on Linux, with no other thread
running (a lock another thread held at the fork would never be released in the child). Elsewhere, and for
fewer than MIN_ITEMS items, where starting workers costs more than they save, everything runs here.
`PROMPTOPS_WORKERS=N` sets the number of workers (1: none).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
MIN_ITEMS = 200  # a worker costs about 20 ms to fork and return its answers; an item, about 2 ms
MAX_WORKERS = 8
_task: Callable[[int], Any] | None = None  # what the forked workers run: set before the fork, inherited


def workers_for(count: int) -> int:
    """Return how many processes should share `count` items (1: this one alone).

    `PROMPTOPS_WORKERS=N` asks for N (at most MAX_WORKERS) whatever the count and cores; 1 turns workers off.
    """
    if count < 2 or sys.platform != "linux" or threading.active_count() > 1:
        return 1
    wanted = os.environ.get("PROMPTOPS_WORKERS", "")
    if wanted.isdigit() and int(wanted) > 0:
        return min(int(wanted), MAX_WORKERS)
    return min(len(os.sched_getaffinity(0)), MAX_WORKERS) if count >= MIN_ITEMS else 1


def ordered_map(task: Callable[[int], T], count: int) -> list[T]:
    """Return `[task(i) for i in range(count)]`, computed by forked workers when there are enough items."""
    workers = workers_for(count)
    if workers == 1:
        return [task(i) for i in range(count)]
    import multiprocessing

    for stream in (sys.stdout, sys.stderr):  # a child flushes what it inherited: it must hold nothing
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    global _task
    _task = task
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            return pool.map(_run, range(count), chunksize=max(1, count // (workers * 8)))
    finally:
        _task = None


def _run(index: int) -> Any:
    assert _task is not None, "ordered_map sets the task before it forks"
    return _task(index)
