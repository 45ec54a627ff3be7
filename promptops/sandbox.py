"""The Jinja sandbox for prompt templates, bounded in memory and time as well as in what it may touch.

Prompt files come from pull requests and render in CI, where secrets live. `SandboxedEnvironment` blocks
attribute and call escapes; this adds bounds on what a template can allocate (repetition, powers, padding
widths) and on how long one render may run, so a template cannot take the runner down either.
"""

from __future__ import annotations

import math
import operator
import re
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

MAX_ITEMS = 100_000  # characters or elements one operation may produce
MAX_INT_BITS = 100_000  # size of an integer a power may produce
MAX_WIDTH = 10_000  # a padding width or precision in a format string
RENDER_SECONDS = 1.0
_WIDTH = re.compile(r"\d{5,}")  # any number of 5+ digits inside a format spec is a width we refuse


class RenderTimeout(SecurityError):
    """A template ran longer than the render time limit."""


def _check_format_spec(spec: str) -> None:
    for number in _WIDTH.findall(spec):
        if int(number) > MAX_WIDTH:
            raise SecurityError(f"format width {number} in template is larger than {MAX_WIDTH}")


def _bounded_width(width: Any) -> None:
    if isinstance(width, int) and width > MAX_WIDTH:
        raise SecurityError(f"width {width} in template is larger than {MAX_WIDTH}")


class BoundedSandbox(SandboxedEnvironment):
    """A sandbox whose operators, string formatting and padding filters cannot exhaust memory or CPU."""

    intercepted_binops = frozenset(["*", "**", "%"])

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        for name in ("cycler", "joiner", "lipsum"):  # nothing a prompt needs; fewer handles to escape through
            self.globals.pop(name, None)
        for name in ("center", "indent", "wordwrap", "truncate"):
            self.filters[name] = _width_checked(self.filters[name])
        self.filters["format"] = _format_checked(self.filters["format"])

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        if op == "**":
            numbers = isinstance(left, int | float) and isinstance(right, int | float)
            if numbers and right > 0 and abs(left) > 1 and right * math.log2(abs(left)) > MAX_INT_BITS:
                raise SecurityError("power too large in template")
            return operator.pow(left, right)
        if op == "%":
            if isinstance(left, str):
                _check_format_spec(left)
            return operator.mod(left, right)
        for items, count in ((left, right), (right, left)):
            if isinstance(items, str | list | tuple) and isinstance(count, int) and len(items) * count > MAX_ITEMS:
                raise SecurityError("repetition too large in template")
        return operator.mul(left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (jinja's signature)
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            if getattr(__obj, "__name__", "") in ("format", "format_map"):
                _check_format_spec(owner)
            if getattr(__obj, "__name__", "") in ("center", "ljust", "rjust", "zfill", "expandtabs"):
                for arg in args:
                    _bounded_width(arg)
        return super().call(__context, __obj, *args, **kwargs)


def _width_checked(fn: Callable[..., Any]) -> Callable[..., Any]:
    def checked(*args: Any, **kwargs: Any) -> Any:
        for value in (*args[1:], *kwargs.values()):
            _bounded_width(value)
        return fn(*args, **kwargs)

    checked.__dict__.update(fn.__dict__)  # keep jinja's pass_* markers
    return checked


def _format_checked(fn: Callable[..., Any]) -> Callable[..., Any]:
    def checked(value: Any, *args: Any, **kwargs: Any) -> Any:
        _check_format_spec(str(value))
        return fn(value, *args, **kwargs)

    checked.__dict__.update(fn.__dict__)
    return checked


@contextmanager
def deadline(seconds: float = RENDER_SECONDS) -> Iterator[None]:
    """Raise RenderTimeout in a render that runs longer than `seconds` (main thread only: signals need it)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise RenderTimeout(f"template took longer than {seconds:g} s to render")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
