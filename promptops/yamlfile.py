"""Read YAML with the line and column of every key, so a problem can point at the line that has it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

# A position: 1-based (line, col).
Position = tuple[int, int]


@dataclass(frozen=True)
class YamlProblem:
    """A YAML syntax problem or a duplicate key, with its 1-based position."""

    line: int
    col: int
    code: str
    message: str


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML document and where each dotted key path starts."""

    data: Any
    positions: dict[str, Position]
    problems: tuple[YamlProblem, ...]


def key_path(parts: tuple[str | int, ...] | list[str | int]) -> str:
    """Return the dotted path used in `positions`, e.g. `experiment.evaluators.0.kind`."""
    return ".".join(str(p) for p in parts)


def load(text: str) -> YamlDocument:
    """Parse one YAML document, recording key positions; syntax errors become problems, not exceptions."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = exc.problem or exc.context or "invalid YAML"
        return YamlDocument(None, {}, (YamlProblem(line, col, "yaml-syntax", f"YAML syntax error: {reason}"),))
    except yaml.YAMLError as exc:  # e.g. a reader error on a control character
        return YamlDocument(None, {}, (YamlProblem(1, 1, "yaml-syntax", f"YAML syntax error: {exc}"),))
    if node is None:
        return YamlDocument(None, {}, ())
    positions: dict[str, Position] = {}
    problems: list[YamlProblem] = []
    try:
        data = _convert(node, (), positions, problems, set())
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        # Scalars that SafeLoader cannot construct (e.g. an invalid timestamp) land here.
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return YamlDocument(None, {}, (YamlProblem(line, col, "yaml-syntax", f"YAML value error: {exc}"),))
    return YamlDocument(data, positions, tuple(problems))


def _convert(
    node: yaml.Node,
    path: tuple[str | int, ...],
    positions: dict[str, Position],
    problems: list[YamlProblem],
    seen: set[int],
) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        # An alias is the same node object seen twice; expanding it invites "billion laughs" documents.
        if id(node) in seen:
            problems.append(_at(node, "yaml-alias", "YAML aliases (*name) are not supported; write the value out"))
            return None
        seen.add(id(node))
    positions.setdefault(key_path(path), (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                problems.append(_at(key_node, "yaml-merge", "YAML merge keys (<<) are not supported; write keys out"))
                continue
            key = _scalar(key_node)
            if not isinstance(key, str | int | float | bool) or key is None:
                problems.append(_at(key_node, "yaml-key", "mapping keys must be plain strings"))
                continue
            if key in result:
                problems.append(_at(key_node, "duplicate-key", f"duplicate key {key!r}: the later value would win"))
            child = (*path, str(key))
            positions[key_path(child)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            value_line = value_node.start_mark.line + 1
            if isinstance(value_node, yaml.ScalarNode) and value_node.style in ("|", ">"):
                value_line += 1  # a block scalar's text starts on the line after its indicator
            positions[key_path(child) + "#value"] = (value_line, value_node.start_mark.column + 1)
            result[key] = _convert(value_node, child, positions, problems, seen)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), positions, problems, seen) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        return None
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _at(node: yaml.Node, code: str, message: str) -> YamlProblem:
    return YamlProblem(node.start_mark.line + 1, node.start_mark.column + 1, code, message)
