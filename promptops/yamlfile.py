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


def _child(path: str, key: object) -> str:
    """Return the dotted path used in `positions` of a key or index below `path`, e.g. `experiment.evaluators.0`."""
    return f"{path}.{key}" if path else str(key)


# Plain data only: anything else (python/object, custom tags) is refused rather than silently dropped.
SAFE_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("map", "seq", "str", "int", "float", "bool", "null", "timestamp")
)
_STR = "tag:yaml.org,2002:str"
_COMPOSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: several times faster
MAX_NODES = 250_000  # scalars, sequences and mappings in one file: composing costs about 0.7 KB each
_PRESCAN_CHARS = 64 * 1024  # files larger than this are counted before they are composed
_NODE_EVENTS = (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent)


class _Refused(Exception):
    """Conversion stops at the first alias: one diagnostic, not one per `*name` in a file of 150,000."""

    def __init__(self, problem: YamlProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def load(text: str) -> YamlDocument:
    """Parse one YAML document, recording key positions; syntax errors become problems, not exceptions.

    Bounded: a file larger than 64 KiB is first counted, event by event, and refused past MAX_NODES before
    anything is built; aliases (`*name`) of any node are refused at the first one.
    """
    try:
        # Counted first when large, or when it has anchors: the alias problem then points at the alias itself.
        too_many = _prescan(text) if len(text) > _PRESCAN_CHARS or "&" in text else None
        if too_many is not None:
            return YamlDocument(None, {}, (too_many,))
        node = yaml.compose(text, Loader=_COMPOSER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = _one_line(exc.problem or exc.context or "invalid YAML")
        return _failed(line, col, "yaml-syntax", f"YAML syntax error: {reason}")
    except yaml.reader.ReaderError as exc:  # a control character or an invalid code point
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        return _failed(line, col, "yaml-syntax", f"YAML syntax error: {_one_line(exc.reason)} (#x{exc.character:04x})")
    except yaml.YAMLError as exc:
        return _failed(1, 1, "yaml-syntax", f"YAML syntax error: {_one_line(str(exc))}")
    except RecursionError:
        return _failed(1, 1, "yaml-nesting", "YAML is nested too deeply: flatten the document")
    if node is None:
        return YamlDocument(None, {}, ())
    positions: dict[str, Position] = {}
    problems: list[YamlProblem] = []
    constructor = yaml.SafeLoader("")
    try:
        data = _convert(node, "", positions, problems, set(), constructor)
    except RecursionError:
        return _failed(1, 1, "yaml-nesting", "YAML is nested too deeply: flatten the document")
    except _Refused as refused:
        return YamlDocument(None, positions, (refused.problem,))
    finally:
        constructor.dispose()
    if problems:
        return YamlDocument(None, positions, tuple(problems))
    return YamlDocument(data, positions, ())


def _prescan(text: str) -> YamlProblem | None:
    """Return the problem of a document with more than MAX_NODES nodes or with an alias, counting events only."""
    nodes = 0
    for event in yaml.parse(text, Loader=_COMPOSER):
        if isinstance(event, yaml.AliasEvent):
            return _alias_problem(event.start_mark)
        if isinstance(event, _NODE_EVENTS):
            nodes += 1
            if nodes > MAX_NODES:
                line, col = (event.start_mark.line + 1, event.start_mark.column + 1) if event.start_mark else (1, 1)
                message = f"the YAML has more than {MAX_NODES:,} values: split the file (or use a .jsonl dataset)"
                return YamlProblem(line, col, "yaml-too-large", message)
    return None


def _alias_problem(mark: Any) -> YamlProblem:
    message = "YAML aliases (*name) are not supported; write the value out"
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    return YamlProblem(line, col, "yaml-alias", message)


def _failed(line: int, col: int, code: str, message: str) -> YamlDocument:
    return YamlDocument(None, {}, (YamlProblem(line, col, code, message),))


def _convert(
    node: yaml.Node,
    path: str,
    positions: dict[str, Position],
    problems: list[YamlProblem],
    seen: set[int],
    constructor: yaml.SafeLoader,
) -> Any:
    if node.tag not in SAFE_TAGS:
        problems.append(_at(node, "yaml-tag", f"unsupported YAML tag {node.tag!r}: use plain values"))
        return None
    # An alias is the same node object seen twice. Expanding it invites "billion laughs" documents, and a scalar
    # alias too: `*a` of a 400 KB string 150,000 times is 60 GB once converted (and again in jsonschema's repr).
    _first_sight(node, seen)
    positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                problems.append(_at(key_node, "yaml-merge", "YAML merge keys (<<) are not supported; write keys out"))
                continue
            _first_sight(key_node, seen)
            key = _scalar(key_node, constructor, problems)
            if not isinstance(key, str | int | float | bool) or key is None:
                problems.append(_at(key_node, "yaml-key", "mapping keys must be plain strings"))
                continue
            if key in result:
                problems.append(_at(key_node, "duplicate-key", f"duplicate key {key!r}: the later value would win"))
            child = _child(path, key)
            positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            value_line = value_node.start_mark.line + 1
            if isinstance(value_node, yaml.ScalarNode) and value_node.style in ("|", ">"):
                value_line += 1  # a block scalar's text starts on the line after its indicator
            positions[child + "#value"] = (value_line, value_node.start_mark.column + 1)
            result[key] = _convert(value_node, child, positions, problems, seen, constructor)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _convert(item, _child(path, i), positions, problems, seen, constructor) for i, item in enumerate(node.value)
        ]
    return _scalar(node, constructor, problems)


def _first_sight(node: yaml.Node, seen: set[int]) -> None:
    if id(node) in seen:
        raise _Refused(_alias_problem(node.start_mark))
    seen.add(id(node))


def _scalar(node: yaml.Node, constructor: yaml.SafeLoader, problems: list[YamlProblem]) -> Any:
    if not isinstance(node, yaml.ScalarNode) or node.tag not in SAFE_TAGS:
        return None
    try:
        # A string is its node's text (what SafeConstructor.construct_yaml_str returns); the rest is constructed.
        value = node.value if node.tag == _STR else constructor.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:  # e.g. an impossible date
        problems.append(_at(node, "yaml-value", f"invalid YAML value {node.value!r}: {_one_line(str(exc))}"))
        return None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            problems.append(_at(node, "yaml-value", "the string contains a lone surrogate escape (e.g. \\ud800)"))
            return None
    return value


def _at(node: yaml.Node, code: str, message: str) -> YamlProblem:
    return YamlProblem(node.start_mark.line + 1, node.start_mark.column + 1, code, message)
