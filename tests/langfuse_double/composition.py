"""Prompt composition: `@@@langfusePrompt:name=…|version=…@@@` tags and their resolution (REFERENCE §2.6)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

MAX_NESTING_DEPTH = 5
_TAG = re.compile(r"@@@langfusePrompt:(.*?)@@@")


@dataclass(frozen=True)
class Dependency:
    """One parsed dependency tag: a name plus exactly one of version or label."""

    name: str
    version: int | float | None = None
    label: str | None = None

    def describe(self) -> str:
        """Render as the server's error messages do (`name - version 3`, `name - label prod`)."""
        if self.version is not None:
            return f"{self.name} - version {self.version}"
        return f"{self.name} - label {self.label}"


class Node(Protocol):
    """What resolution needs from a stored prompt version."""

    id: str
    name: str
    version: int
    type: str
    prompt: Any
    labels: list[str]
    dependencies: list[Dependency]


class ResolutionError(Exception):
    """A dependency that cannot be resolved: 400 on create, 409 on read."""


def to_js_json(value: Any) -> str:
    """Serialise like JavaScript's JSON.stringify (compact, non-ASCII kept)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _parse_one(inner: str) -> Dependency | None:
    parts = inner.split("|")
    # The server skips tags whose first part is not name= or that have extra parts, leaving them literal.
    if not parts[0].startswith("name=") or len(parts) != 2:
        return None
    params: dict[str, str | None] = {}
    for part in parts:
        pieces = part.split("=")  # JS `[key, value] = part.split("=")` keeps only the 2nd piece
        params[pieces[0]] = pieces[1] if len(pieces) > 1 else None
    name = params.get("name")
    if not name:
        return None
    if params.get("version"):
        try:
            number = float(params["version"] or "")
        except ValueError:
            return None
        if not math.isfinite(number):
            return None
        return Dependency(name=name, version=int(number) if number.is_integer() else number)
    label = params.get("label")
    return Dependency(name=name, label=label) if label is not None else None


def parse_dependency_tags(content: Any) -> list[Dependency]:
    """Return the distinct valid dependency tags found in text or chat content, in order."""
    found: list[Dependency] = []
    for inner in _TAG.findall(to_js_json(content)):
        dependency = _parse_one(inner)
        if dependency is not None and dependency not in found:
            found.append(dependency)
    return found


Finder = Callable[[Dependency], Node | None]


def resolve(root: Node, find: Finder, root_dependencies: list[Dependency] | None = None) -> tuple[Any, Any]:
    """Resolve `root`'s content recursively; return (content, resolutionGraph or None)."""
    graph: dict[str, Any] = {
        "root": {"name": root.name, "version": root.version, "id": root.id},
        "dependencies": {},
    }
    seen: set[str] = set()

    def visit(current: Node, dependencies: list[Dependency] | None, level: int) -> Any:
        if level >= MAX_NESTING_DEPTH:
            raise ResolutionError(f"Maximum nesting depth exceeded ({MAX_NESTING_DEPTH})")
        if current.id in seen or (current.name == root.name and current.id != root.id):
            raise ResolutionError(
                f"Circular dependency detected involving prompt '{current.name}' version {current.version}"
            )
        seen.add(current.id)
        deps = current.dependencies if dependencies is None else dependencies
        if not deps:
            seen.discard(current.id)
            return current.prompt
        text = to_js_json(current.prompt)
        for dependency in deps:
            child = _find_text_prompt(find, dependency)
            graph["dependencies"].setdefault(current.id, []).append(
                {"id": child.id, "name": child.name, "version": child.version}
            )
            replacement = to_js_json(visit(child, None, level + 1))[1:-1]
            for tag in _tags_for(child):
                text = text.replace(tag, replacement)
        seen.discard(current.id)
        return json.loads(text)

    content = visit(root, root_dependencies, 0)
    return content, (graph if graph["dependencies"] else None)


def _find_text_prompt(find: Finder, dependency: Dependency) -> Node:
    child = find(dependency)
    if child is None:
        raise ResolutionError(f"Prompt dependency not found: {dependency.describe()}")
    if child.type != "text":
        raise ResolutionError(f"Prompt dependency is not a text prompt: {dependency.describe()}")
    return child


def _tags_for(child: Node) -> list[str]:
    # The server replaces the version tag and every label tag the child currently carries.
    prefix = f"@@@langfusePrompt:name={child.name}|"
    return [f"{prefix}version={child.version}@@@", *(f"{prefix}label={label}@@@" for label in child.labels)]
