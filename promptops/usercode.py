"""Run user code (custom tasks, evaluators, retrievers, LangChain builders) so nothing it raises becomes our exit.

A `module:function` from the repository may raise anything, BaseException included: `sys.exit()` raises
SystemExit, and a KeyboardInterrupt can be raised by code as well as by Ctrl-C. Left alone, either would end
promptops with an exit code of the user code's choosing (SystemExit(0) made a failing PR gate pass). So user
code runs inside these guards: whatever it raises becomes a failure of that item or a ConfigError naming it.

Two BaseExceptions stay ours and are re-raised: a cancellation of the running asyncio task (an item's time
limit, or Ctrl-C, which asyncio.run delivers as a cancellation) and a real Ctrl-C. A real Ctrl-C is told from a
KeyboardInterrupt that code raised by a SIGINT handler installed around synchronous user code (imports and
builders), which records the signal before raising as Python's default handler does. Inside an experiment
run, asyncio's own handler turns the first Ctrl-C into a cancellation, so the runner knows the run is being
interrupted (`ExperimentRun.stopped`) before a second Ctrl-C could raise. Where neither can be known (another
thread, a handler of someone else's), a KeyboardInterrupt is taken as a real Ctrl-C: it ends the command with
exit 130 and nothing decided, which fails a gate, never passes it.
"""

from __future__ import annotations

import functools
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING

from promptops.errors import ConfigError, PromptopsError

if TYPE_CHECKING:
    import asyncio

MAX_MESSAGE_CHARS = 500  # of a user exception's text in an item error or a message


def one_line(exc: BaseException) -> str:
    """Return an exception's message on one line, cut to a readable length (a user's exception text is unbounded)."""
    text = " ".join(str(exc).split())
    return text[:MAX_MESSAGE_CHARS] + "…" if len(text) > MAX_MESSAGE_CHARS else text


def describe(exc: BaseException) -> str:
    """Return `Type: message` on one line, cut to a readable length."""
    text = one_line(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def being_cancelled() -> bool:
    """Return whether the running asyncio task has been asked to stop (a time limit or Ctrl-C)."""
    asyncio = sys.modules.get("asyncio")  # not imported: no loop runs (validation needs none, and skips its import)
    if asyncio is None:
        return False
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no running loop
        return False
    return task is not None and task.cancelling() > 0


def retrieve_exception(task: asyncio.Task[None]) -> None:
    """Retrieve a finished task's exception now, so it is never reported later."""
    # A Ctrl-C raised inside an item task leaves its exception unretrieved; the "never retrieved" report
    # then runs from the garbage collector at any later moment (once inside ast.parse: a CPython 3.11 crash).
    if not task.cancelled():
        task.exception()


def ctrl_c_cancels() -> bool:
    """Return whether a first Ctrl-C reaches this run as a cancellation, never as a KeyboardInterrupt in an item.

    True off the main thread (signals are delivered to the main thread only, so any KeyboardInterrupt here was
    raised by code) and under asyncio.run's own SIGINT handler; False under a handler of someone else's.
    """
    if threading.current_thread() is not threading.main_thread():
        return True
    handler = signal.getsignal(signal.SIGINT)
    return isinstance(handler, functools.partial) and getattr(handler.func, "__name__", "") == "_on_sigint"


@contextmanager
def sigint_recorded() -> Iterator[Callable[[], bool | None]]:
    """Yield a function telling whether a real Ctrl-C arrived meanwhile (None: this thread cannot know)."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler:
        yield lambda: None  # asyncio's or the embedding app's handler: theirs to interpret
        return
    received = False

    def record(signum: int, frame: FrameType | None) -> None:
        nonlocal received
        received = True
        signal.default_int_handler(signum, frame)

    signal.signal(signal.SIGINT, record)
    try:
        yield lambda: received
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def building(what: str) -> Iterator[None]:
    """Import or build user code; anything it raises becomes a ConfigError about `what` (Ctrl-C stays Ctrl-C)."""
    with sigint_recorded() as real_sigint:
        try:
            yield
        except PromptopsError:
            raise
        except KeyboardInterrupt as exc:
            if real_sigint() is not False:  # a real Ctrl-C, or a thread that cannot tell: exit 130, nothing decided
                raise
            raise ConfigError(f"{what}: {describe(exc)}") from None
        except BaseException as exc:  # SystemExit and the rest: the user code failed, promptops goes on
            if _cancellation(exc):
                if being_cancelled():
                    raise
                raise ConfigError(f"{what}: raised CancelledError") from None
            raise ConfigError(f"{what}: {describe(exc)}") from None


def _cancellation(exc: BaseException) -> bool:
    """Return whether `exc` is asyncio's CancelledError (which only exists once something imported asyncio)."""
    asyncio = sys.modules.get("asyncio")
    return asyncio is not None and isinstance(exc, asyncio.CancelledError)
