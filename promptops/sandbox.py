"""The Jinja sandbox for prompt templates, bounded in memory and time as well as in what it may touch.

Prompt files come from pull requests and render in CI, where secrets live. `ImmutableSandboxedEnvironment`
blocks attribute and call escapes and in-place growth of lists and dicts; this adds bounds on what a template
can allocate and on how long one render may run, so a template cannot take the runner down either.

The memory bound is generic: every operation a template can perform goes through one of four doors, and each
door checks sizes (sandbox_bounds.py). Calls (methods, macros, globals) and filters and tests refuse inputs
larger than MAX_VALUE and count arguments (widths, precisions) larger than MAX_WIDTH, refuse predicted results
over MAX_VALUE where one small input can multiply another (replace, join, indent, wordwrap, expandtabs,
translate, printf `%`, `format()`, tojson's indent), and check and charge every result. Operators (+ - * / // %
**) are intercepted likewise. Output (`{{ }}`), string concatenation (`~`) and every buffer a render joins
(macros, blocks, the whole text) are measured before they are built. A render-wide budget of RENDER_BUDGET
characters bounds the sum of all of it; RENDER_SECONDS bounds the time.
"""

from __future__ import annotations

import io
import math
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from jinja2 import Environment
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.nodes import Concat, Template
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEscapeFormatter, SandboxedFormatter

from promptops import sandbox_bounds as bounds
from promptops.sandbox_bounds import MAX_INT_BITS, MAX_ITEMS, MAX_VALUE

RENDER_SECONDS = 1.0
MAX_RENDERED_CHARS = MAX_VALUE

# Filters whose integer arguments are positions or limits (they only shrink or select), or data (format's).
_COUNT_FREE_FILTERS = frozenset(
    {"truncate", "round", "format", "replace", "sum", "int", "float", "urlize", "wordwrap", "default", "d"}
)
# Filters judged linear: their result is at most a small multiple of their (measured) input.
LINEAR_FILTERS = frozenset(
    "abs attr batch capitalize center count dictsort e escape filesizeformat first float forceescape groupby int "
    "items last length list lower map max min random reject rejectattr reverse round safe select selectattr "
    "slice sort string striptags sum title trim truncate unique upper urlencode wordcount xmlattr d default".split()
)
# Filters where one input can multiply another: their result size is predicted before they run.
FILTER_PREDICTORS: dict[str, Callable[..., int]] = {
    "replace": lambda s, old, new, count=None: bounds.replace_size(str(s), str(old), str(new), count),
    "join": lambda value, d="", attribute=None: bounds.join_size(d, bounds.items_of(value)),
    "indent": lambda s, width=4, first=False, blank=False: bounds.lines_times(str(s), width),
    "wordwrap": lambda s, width=79, break_long_words=True, wrapstring=None, break_on_hyphens=True: (
        len(str(s)) + (len(str(s)) + 1) * len(wrapstring or "\n")
    ),
    "format": lambda value, *args, **kwargs: bounds.printf_size(str(value), kwargs or args),
    "urlize": lambda value, trim_url_limit=None, nofollow=False, target=None, rel=None, extra_schemes=None: (
        2 * len(str(value)) + len(str(value).split()) * (80 + len(str(target or "")) + len(str(rel or "")))
    ),
    "tojson": lambda value, indent=None: _nested_size(value, 6 * (1 + (indent or 0))),
    "pprint": lambda value: _nested_size(value, 2),
}
# Methods whose integer arguments are positions or limits, never sizes.
_COUNT_FREE_METHODS = frozenset(
    {"find", "rfind", "index", "rindex", "count", "split", "rsplit", "splitlines", "startswith", "endswith"}
    | {"get", "pop", "replace", "strip", "lstrip", "rstrip", "round", "removeprefix", "removesuffix"}
)
_METHOD_PREDICTORS: dict[str, Callable[..., int]] = {
    "replace": bounds.replace_size,
    "join": lambda separator, items: bounds.join_size(separator, items),
    "expandtabs": lambda text, tabsize=8: len(text) + text.count("\t") * max(tabsize, 0),
    "translate": bounds.translate_size,
}
_BUILTIN_OWNERS = (str, bytes, bytearray, list, tuple, dict, set, frozenset, int, float)


def _nested_size(value: Any, per_level: int) -> int:
    size, depth = bounds.measure(value)
    return size * per_level * depth


class RenderTimeout(SecurityError):
    """A template ran longer than the render time limit."""


class _BoundedFields:
    """A str.format formatter that checks each field's spec and value, and the text produced so far."""

    produced = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        bounds.check_format_spec(format_spec)
        bounds.check_value(value, "a value in format()")
        text = super().format_field(value, format_spec)  # type: ignore[misc]
        self.produced += len(text)
        bounds.check_predicted(self.produced, "format()")
        return text


class _BoundedFormatter(_BoundedFields, SandboxedFormatter):
    pass


class _BoundedEscapeFormatter(_BoundedFields, SandboxedEscapeFormatter):
    pass


class _BoundedCodeGenerator(CodeGenerator):
    """Compile `a ~ b` to a measured join instead of Jinja's plain one, and note the undeclared names on the way.

    `undeclared` is what `jinja2.meta.find_undeclared_variables` reports (the names the template looks up in
    its context), gathered the way meta's own code generator gathers them, so one code generation both checks
    and compiles a template.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.undeclared: set[str] = set()

    def enter_frame(self, frame: Frame) -> None:
        super().enter_frame(frame)
        for action, param in frame.symbols.loads.values():
            if action == "resolve" and param not in self.environment.globals:
                self.undeclared.add(param)

    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        self.write("environment.bounded_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


def generate(env: Environment, ast: Template) -> tuple[str, frozenset[str]]:
    """Return the Python `env.compile(ast, raw=True)` makes of a parsed template of a BoundedSandbox, and the
    names `jinja2.meta.find_undeclared_variables(ast)` would find, from one code generation."""
    stream = io.StringIO()
    generator = _BoundedCodeGenerator(env, None, None, stream, optimized=env.optimized)
    generator.visit(ast)
    return stream.getvalue(), frozenset(generator.undeclared)


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """A sandbox in which no operation, filter, call or output can exhaust memory, and no render runs long."""

    intercepted_binops = frozenset(["+", "-", "*", "/", "//", "%", "**"])
    code_generator_class = _BoundedCodeGenerator

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=_finalize, **options)
        for name in ("cycler", "joiner", "lipsum"):  # nothing a prompt needs; fewer handles to escape through
            self.globals.pop(name, None)
        for name, fn in self.filters.items():
            self.filters[name] = _bounded(f"|{name}", fn, FILTER_PREDICTORS.get(name))
        for name, test in self.tests.items():
            self.tests[name] = _bounded(f"is {name}", test, None)  # type: ignore[arg-type]

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        numbers = isinstance(left, int | float) and isinstance(right, int | float)
        if op == "**" and numbers and right > 0 and abs(left) > 1 and right * math.log2(abs(left)) > MAX_INT_BITS:
            raise SecurityError("power too large in template")
        if op == "*":
            for items, count in ((left, right), (right, left)):
                if isinstance(items, str | list | tuple) and isinstance(count, int) and len(items) * count > MAX_ITEMS:
                    raise SecurityError("repetition too large in template")
            ints = isinstance(left, int) and isinstance(right, int)
            if ints and left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise SecurityError("product too large in template")
        if op == "%" and isinstance(left, str):
            bounds.check_predicted(bounds.printf_size(left, right), "the % operator")
        if op == "+" and isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
            bounds.check_predicted(len(left) + len(right), "the + operator")
        return bounds.check_result(self.binop_table[op](left, right), f"the {op} operator")

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (jinja's signature)
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "") or "a function"
        if isinstance(owner, _BUILTIN_OWNERS):
            if name == "join" and args:
                args = (bounds.items_of(args[0]), *args[1:])  # measured, and joined, as one list
            for value in (*args, *kwargs.values()):
                bounds.check_value(value, f"an argument of .{name}()")
                if name not in _COUNT_FREE_METHODS:
                    bounds.check_count(value, f".{name}()")
            predictor = _METHOD_PREDICTORS.get(name)
            if predictor is not None and isinstance(owner, str | bytes):
                bounds.check_predicted(predictor(owner, *args, **kwargs), f".{name}()")
        return bounds.check_result(super().call(__context, __obj, *args, **kwargs), f"calling {name}")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Sandbox `str.format` and `format_map` with a formatter that bounds every field."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text: str = value.__self__
        is_map = value.__name__ == "format_map"

        def bounded(*args: Any, **kwargs: Any) -> str:
            fields = _BoundedFormatter(self) if type(text) is str else _BoundedEscapeFormatter(self, escape=text.escape)  # type: ignore[attr-defined]
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                kwargs, args = args[0], ()
            return bounds.check_result(type(text)(fields.vformat(text, args, kwargs)), "format()")

        return bounded

    def bounded_join(self, parts: Iterable[Any]) -> str:
        """Join the operands of `~`, measuring each before it becomes text."""
        texts, total = [], 0
        for part in parts:
            if not isinstance(part, str):
                bounds.check_value(part, "a value joined with ~")
                part = str(part)
            total += len(part)
            bounds.check_predicted(total, "the ~ operator")
            texts.append(part)
        bounds.charge(total)
        return "".join(texts)

    def concat(self, parts: Iterable[str]) -> str:  # type: ignore[override]
        """Join a render's output (the whole text, a macro's, a block's), stopping once it is too long."""
        texts, total = [], 0
        for part in parts:
            total += len(part)
            if total > MAX_RENDERED_CHARS:
                raise SecurityError(f"rendered text is longer than {MAX_RENDERED_CHARS:,} characters")
            texts.append(part)
        return "".join(texts)


def _finalize(value: Any) -> Any:
    """Measure and charge every `{{ }}` value before it is turned into text."""
    bounds.charge(bounds.check_value(value, "an output value") if not isinstance(value, str) else len(value))
    return value


def _bounded(what: str, fn: Callable[..., Any], predictor: Callable[..., int] | None) -> Callable[..., Any]:
    skip = 1 if getattr(fn, "jinja_pass_arg", None) is not None else 0  # the context or environment jinja passes
    count_free = what.removeprefix("|") in _COUNT_FREE_FILTERS

    def bounded(*args: Any, **kwargs: Any) -> Any:
        values = list(args[skip:])
        if what == "|join" and values:
            values[0] = bounds.items_of(values[0]) if not isinstance(values[0], str) else values[0]
            args = (*args[:skip], *values)
        for value in (*values, *kwargs.values()):
            bounds.check_value(value, f"the input of {what}")
        if not count_free:
            for value in (*values[1:], *kwargs.values()):
                bounds.check_count(value, what)
        if predictor is not None:
            bounds.check_predicted(predictor(*values, **kwargs), what)
        return bounds.check_result(fn(*args, **kwargs), what)

    bounded.__dict__.update(getattr(fn, "__dict__", {}))  # keep jinja's pass_* marker
    return bounded


@contextmanager
def bounded(seconds: float = RENDER_SECONDS) -> Iterator[None]:
    """Run one render within the time limit and a fresh allocation budget."""
    token = bounds.start_budget()
    try:
        with deadline(seconds):
            yield
    finally:
        bounds.end_budget(token)


@contextmanager
def deadline(seconds: float = RENDER_SECONDS) -> Iterator[None]:
    """Raise RenderTimeout in code that runs longer than `seconds` (main thread only: signals need it)."""
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
