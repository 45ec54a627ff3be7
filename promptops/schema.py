"""The JSON Schemas that ship with promptops, and validation that reports where each problem is.

A document is first checked by jsonschema-rs (a compiled validator, about 150 times faster here) when it holds
plain JSON values only; a document it finds valid has no problems, and only one it refuses (or one with values
JSON has no type for, such as a YAML date) goes through jsonschema, whose errors the messages are made of. The
schemas' patterns are ASCII classes, so Rust's and Python's regular expressions read them alike;
tests/test_schema.py holds the two validators equal on random documents.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

SCHEMA_NAMES = ("prompt", "dataset", "config")


@dataclass(frozen=True)
class SchemaProblem:
    """One schema violation: the dotted key path it concerns and a message that says what is wrong."""

    path: str
    message: str


def schema_text(name: str) -> str:
    """Return the JSON text of a shipped schema (prompt, dataset or config)."""
    if name not in SCHEMA_NAMES:
        raise KeyError(name)
    return resources.files("promptops.schemas").joinpath(f"{name}.schema.json").read_text("utf-8")


@cache
def _validator(name: str) -> Any:
    import jsonschema
    from referencing import Registry, Resource

    schemas = {n: json.loads(schema_text(n)) for n in SCHEMA_NAMES}
    registry: Registry[Any] = Registry().with_resources(
        (f"{n}.schema.json", Resource.from_contents(s)) for n, s in schemas.items()
    )
    registry = registry.with_resources((s["$id"], Resource.from_contents(s)) for s in schemas.values())
    cls = jsonschema.validators.validator_for(schemas[name])
    return cls(schemas[name], registry=registry)


@cache
def _fast(name: str) -> Callable[[Any], bool] | None:
    """Return jsonschema-rs's `is_valid` for a shipped schema, or None where it is not installed."""
    try:
        import jsonschema_rs
    except ImportError:  # no wheel for this platform: jsonschema alone gives the same answers, slower
        return None
    schemas = {n: json.loads(schema_text(n)) for n in SCHEMA_NAMES}
    registry = jsonschema_rs.Registry([(s["$id"], s) for s in schemas.values()])
    return jsonschema_rs.validator_for(schemas[name], registry=registry).is_valid  # type: ignore[no-any-return]


def _plain(instance: Any) -> bool:
    """Return whether `instance` holds only what JSON has: str-keyed dicts, lists, strings, 64-bit integers,
    finite floats, booleans and null (what both validators convert alike)."""
    stack = [instance]
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is dict:
            if not all(type(key) is str for key in value):
                return False
            stack.extend(value.values())
        elif kind is list:
            stack.extend(value)
        elif kind is int:
            if not -(2**63) <= value < 2**64:
                return False
        elif kind is float:
            if not math.isfinite(value):
                return False
        elif kind is not str and kind is not bool and value is not None:
            return False
    return True


MAX_PROBLEMS = 50  # per file: a 1 MB file of 100,000 wrong values would otherwise print 100,000 lines
MAX_MESSAGE_CHARS = 300  # jsonschema quotes the whole offending value


def check(name: str, instance: Any, prefix: tuple[str | int, ...] = ()) -> list[SchemaProblem]:
    """Validate an instance against a shipped schema and return its problems (at most MAX_PROBLEMS), sorted."""
    fast = _fast(name)
    if fast is not None and _plain(instance) and fast(instance):
        return []
    found = list(itertools.islice(_flatten(_validator(name).iter_errors(instance), prefix), MAX_PROBLEMS + 1))
    shown = sorted(found[:MAX_PROBLEMS], key=lambda p: p.path)
    if len(found) > MAX_PROBLEMS:
        shown.append(SchemaProblem("", f"more than {MAX_PROBLEMS} problems in this file; fix these first"))
    return shown


def _flatten(errors: Any, prefix: tuple[str | int, ...]) -> Iterator[SchemaProblem]:
    for error in errors:
        if error.validator == "oneOf" and error.context:
            # Report the branch that got furthest instead of "is not valid under any of the given schemas".
            best = max(error.context, key=lambda e: len(e.absolute_path))
            if len(best.absolute_path) > 0 or best.validator == "additionalProperties":
                yield from _flatten([best], prefix)
                continue
        yield _describe(error, prefix)


def _describe(error: Any, prefix: tuple[str | int, ...]) -> SchemaProblem:
    parts = (*prefix, *error.absolute_path)
    dotted = ".".join(str(p) for p in parts)
    where = dotted or "top level"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        key = extra[0] if extra else "?"
        return SchemaProblem(
            ".".join(str(p) for p in (*parts, key)),
            f"{where}: unknown key {key!r}; allowed keys are {', '.join(allowed)}",
        )
    if error.validator == "required":
        return SchemaProblem(dotted, f"{where}: {error.message}")
    if error.validator == "oneOf" and not parts:
        return SchemaProblem(
            dotted, "give exactly one of `prompt` (text) or `messages` (chat), or a sibling .jinja file"
        )
    message = error.message if len(error.message) <= MAX_MESSAGE_CHARS else error.message[:MAX_MESSAGE_CHARS] + "…"
    return SchemaProblem(dotted, f"{where}: {message}")
