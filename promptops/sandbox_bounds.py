"""How big a template's values are, and how big an operation's result may become before it is computed.

The sandbox (sandbox.py) asks these before and after every operation a template performs. Sizes are counted in
characters for strings and in elements for containers, deeply, because `str()` of a list repeats a shared
element every time it appears (`[s] * 99999` is 99,999 references but prints as 99,999 copies); counting stops as
soon as it passes the cap, so measuring costs at most the cap. A render also has a budget: every result is
charged to it, so a loop of individually small allocations cannot add up to gigabytes either.
"""

from __future__ import annotations

import re
from collections.abc import ItemsView, Iterable, KeysView, Mapping, Sequence, ValuesView
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from jinja2.exceptions import SecurityError
from jinja2.utils import Namespace

MAX_VALUE = 1_000_000  # characters or elements one value may hold (the rendered-text limit)
MAX_ITEMS = 100_000  # characters or elements a repetition (`*`) may produce
MAX_INT_BITS = 100_000  # size of an integer an operation may produce
MAX_WIDTH = 10_000  # a padding width, precision, indent or other count argument
RENDER_BUDGET = 20_000_000  # characters and elements one render may allocate in all

_PRINTF = re.compile(r"%(?:\(([^)]*)\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.DOTALL)
_NUMBERS = re.compile(r"\d+")


@dataclass
class Budget:
    """What one render has allocated so far."""

    used: int = 0


_budget: ContextVar[Budget | None] = ContextVar("promptops_render_budget", default=None)


def start_budget() -> Any:
    """Start a render's budget; return the token that `end_budget` takes."""
    return _budget.set(Budget())


def end_budget(token: Any) -> None:
    """End the render's budget."""
    _budget.reset(token)


def charge(units: int) -> None:
    """Add an allocation to the current render's budget; refuse the render when it is spent."""
    budget = _budget.get()
    if budget is None:  # outside a render: compile-time constant folding, bounded by the source
        return
    budget.used += units
    if budget.used > RENDER_BUDGET:
        raise SecurityError(f"the template allocates more than {RENDER_BUDGET:,} characters in all")


def measure(value: Any, cap: int = MAX_VALUE) -> tuple[int, int]:
    """Return (size, nesting depth) of a value, deeply; the size stops counting once it passes `cap`."""
    size, deepest = 0, 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack and size <= cap:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, str | bytes | bytearray):
            size += len(item) + 2  # quotes when it is printed inside a container
        elif isinstance(item, bool) or item is None:
            size += 5
        elif isinstance(item, int):
            size += item.bit_length() // 3 + 2
        elif isinstance(item, Namespace):
            stack.append((item._Namespace__attrs, depth + 1))  # type: ignore[attr-defined]
        elif isinstance(item, Mapping | ItemsView):
            pairs = item.items() if isinstance(item, Mapping) else item
            size += 2 * len(pairs) + 2
            stack.extend((part, depth + 1) for pair in pairs for part in pair)
        elif isinstance(item, list | tuple | set | frozenset | KeysView | ValuesView | range):
            size += len(item) + 2
            if not isinstance(item, range):
                stack.extend((part, depth + 1) for part in item)
        else:  # numbers, dates, macros, undefined: their text is short
            size += 32
    return size, deepest


def check_value(value: Any, what: str, cap: int = MAX_VALUE) -> int:
    """Refuse a value larger than `cap`; return its size."""
    size, _ = measure(value, cap)
    if size > cap:
        raise SecurityError(f"{what} would be larger than {cap:,} characters")
    return size


def check_result(value: Any, what: str) -> Any:
    """Refuse and charge an operation's result: the generic check after every operation."""
    charge(check_value(value, what))
    return value


def check_count(value: Any, what: str) -> None:
    """Refuse an integer argument (a width, count, precision) larger than MAX_WIDTH."""
    if isinstance(value, int) and not isinstance(value, bool) and value > MAX_WIDTH:
        raise SecurityError(f"{what}: {value} is larger than {MAX_WIDTH:,}")


def check_predicted(size: int, what: str) -> None:
    """Refuse an operation whose predicted result is larger than MAX_VALUE."""
    if size > MAX_VALUE:
        raise SecurityError(f"{what} would produce more than {MAX_VALUE:,} characters")


def text_size(value: Any) -> int:
    """Return the length of `str(value)` without building it (an upper bound, capped above MAX_VALUE)."""
    return len(value) if isinstance(value, str) else measure(value)[0]


def replace_size(text: Any, old: Any, new: Any, count: Any = -1) -> int:
    """Return the length `text.replace(old, new, count)` would have."""
    if not (isinstance(text, str | bytes) and isinstance(old, str | bytes) and isinstance(new, str | bytes)):
        return 0
    found = text.count(old) if old else len(text) + 1  # type: ignore[arg-type]
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * max(len(new) - len(old), 0)


def join_size(separator: Any, items: Sequence[Any]) -> int:
    """Return the length a join of `items` with `separator` would have (items as their text)."""
    return sum(text_size(item) for item in items) + text_size(separator) * max(len(items) - 1, 0)


def printf_size(template: Any, args: Any) -> int:
    """Return an upper bound of the length of `template % args`, refusing widths and precisions over MAX_WIDTH."""
    if not isinstance(template, str):
        return 0
    positional = list(args) if isinstance(args, tuple) else [args]
    total = len(template)
    for key, width, precision, _ in _PRINTF.findall(template):
        sizes = []
        for part in (width, precision):
            number = positional.pop(0) if part == "*" and positional else (int(part) if part.isdigit() else 0)
            check_count(number, "a format width or precision")
            sizes.append(number if isinstance(number, int) else 0)
        value = args.get(key) if key and isinstance(args, Mapping) else (positional.pop(0) if positional else None)
        total += max(sizes[0], sizes[1] + 330, 4 * text_size(value) + 330)  # 330: the digits of any float
    return total


def check_format_spec(spec: str) -> None:
    """Refuse a `format()` spec whose width or precision (nested fields already filled in) exceeds MAX_WIDTH."""
    for number in _NUMBERS.findall(spec):
        if len(number) > 6 or int(number) > MAX_WIDTH:
            raise SecurityError(f"format width {number} in template is larger than {MAX_WIDTH:,}")


def translate_size(text: Any, table: Any) -> int:
    """Return an upper bound of the length of `text.translate(table)`."""
    if not isinstance(text, str) or not isinstance(table, Mapping):
        return 0
    longest = max((len(v) if isinstance(v, str) else 1 for v in table.values()), default=1)
    return len(text) * max(longest, 1)


def lines_times(text: Any, per_line: Any) -> int:
    """Return `text`'s length plus `per_line` (a count or a string's length) for each of its lines."""
    if not isinstance(text, str):
        return 0
    width = len(per_line) if isinstance(per_line, str) else (per_line if isinstance(per_line, int) else 0)
    return len(text) + (text.count("\n") + 1) * max(width, 0)


def items_of(value: Any) -> list[Any]:
    """Return an iterable's items as a list (bounded: the iterable was measured or built by the sandbox)."""
    return list(value) if isinstance(value, Iterable) and not isinstance(value, str | Mapping) else []
