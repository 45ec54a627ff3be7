"""The schema check gives jsonschema's answer, whichever validator answers it.

`schema.check` lets jsonschema-rs accept a document before jsonschema is asked; that is right only if
jsonschema-rs never accepts what jsonschema refuses. Random documents are drawn guided by the shipped schemas
themselves (each property's enum, bounds, patterns and types, near them and past them, or any JSON value), so
most are near-valid and every keyword is reached from both sides.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptops import schema

pytest.importorskip("jsonschema_rs", reason="jsonschema-rs is a dependency: pip install -e '.[test]' installs it")
SCHEMAS = {name: json.loads(schema.schema_text(name)) for name in schema.SCHEMA_NAMES}
TRICKY_STRINGS = ["", "a", "abc\n", "a.b:c", "a‿b:c", "mod:func", "x" * 70, "Ünï", "release-1", "production", "1e3"]
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0, 1, 1.0, 2, 100, 101, 2048, 2049, -1, 0.5, 1.5])
    | st.text(max_size=12)
    | st.sampled_from(TRICKY_STRINGS)
)
any_json = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    document, _, pointer = ref.partition("#")
    target = SCHEMAS[document.removesuffix(".schema.json")] if document else root
    for part in pointer.strip("/").split("/"):
        target = target[part]
    return _resolve(target, root)


def guided(node: Any, root: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values near what `node` (a subschema) describes, and sometimes anything at all."""
    if not isinstance(node, dict) or depth > 6:
        return any_json
    node = _resolve(node, root)
    options: list[st.SearchStrategy[Any]] = [any_json]
    if "enum" in node:
        options.append(st.sampled_from(node["enum"]))
    for branch in node.get("oneOf", []) + node.get("anyOf", []):
        options.append(guided(branch, root, depth + 1))
    kinds = node.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if "object" in kinds or "properties" in node:
        properties = node.get("properties", {})
        extra = node.get("additionalProperties")
        keys = st.sampled_from(sorted(properties)) if properties else st.text(min_size=1, max_size=6)
        options.append(
            st.dictionaries(keys | st.sampled_from(["bogus", "x"]), any_json, max_size=4).flatmap(
                lambda d: st.fixed_dictionaries(
                    {k: guided(properties.get(k, extra if isinstance(extra, dict) else {}), root, depth + 1) for k in d}
                )
            )
        )
    if "array" in kinds or "items" in node:
        options.append(st.lists(guided(node.get("items", {}), root, depth + 1), max_size=3))
    if "string" in kinds:
        options.append(st.from_regex(node["pattern"]) if "pattern" in node else st.sampled_from(TRICKY_STRINGS))
    for bound in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if bound in node:
            value = node[bound]
            options.append(st.sampled_from([value, value - 1, value + 1, value - 0.5, value + 0.5, float(value)]))
    return st.one_of(options)


def _jsonschema_alone(name: str, instance: Any) -> list[schema.SchemaProblem]:
    fast = schema._fast
    try:
        schema._fast = lambda _name: None  # type: ignore[assignment]
        return schema.check(name, instance)
    finally:
        schema._fast = fast


@pytest.mark.parametrize("name", schema.SCHEMA_NAMES)
@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_check_gives_jsonschemas_answer(name: str, data: st.DataObject) -> None:
    instance = data.draw(guided(SCHEMAS[name], SCHEMAS[name]))
    assert schema.check(name, instance) == _jsonschema_alone(name, instance)
    if schema._plain(instance) and schema._fast(name)(instance):  # type: ignore[misc]
        assert _jsonschema_alone(name, instance) == []


def test_values_json_has_no_type_for_go_to_jsonschema() -> None:
    dated = {"prompt": "x", "description": datetime.date(2026, 12, 2)}
    assert not schema._plain(dated)
    assert [p.path for p in schema.check("prompt", dated)] == ["description"]
    assert not schema._plain({"prompt": "x", "constants": {1: "a"}})  # YAML allows int keys, JSON does not
    assert not schema._plain({"prompt": "x", "config": {"seed": 2**64}})
    assert schema._plain({"prompt": "x", "config": {"seed": 2**63, "t": 0.5, "on": True, "none": None}})
