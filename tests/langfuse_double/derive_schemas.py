"""Derive self-contained JSON Schemas (draft 2020-12) for the double's endpoints from Langfuse's openapi.yml.

Run from the repository root to refresh the committed output:

    .venv/bin/python -m tests.langfuse_double.derive_schemas [path/to/openapi.yml]

The output, contract_schemas.json, is committed so the tests never need openapi.yml; the conformance
test re-derives it whenever ../shared/langfuse/openapi.yml exists and fails if the two differ.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SPEC = REPO_ROOT.parent / "shared" / "langfuse" / "openapi.yml"
OUTPUT = Path(__file__).with_name("contract_schemas.json")
DIALECT = "https://json-schema.org/draft/2020-12/schema"

OPERATIONS = (
    ("GET", "/api/public/health"),
    ("GET", "/api/public/projects"),
    ("GET", "/api/public/v2/prompts"),
    ("POST", "/api/public/v2/prompts"),
    ("GET", "/api/public/v2/prompts/{promptName}"),
    ("DELETE", "/api/public/v2/prompts/{promptName}"),
    ("PATCH", "/api/public/v2/prompts/{name}/versions/{version}"),
    ("GET", "/api/public/v2/datasets"),
    ("POST", "/api/public/v2/datasets"),
    ("GET", "/api/public/v2/datasets/{datasetName}"),
    ("GET", "/api/public/dataset-items"),
    ("POST", "/api/public/dataset-items"),
    ("GET", "/api/public/dataset-items/{id}"),
    ("DELETE", "/api/public/dataset-items/{id}"),
    ("POST", "/api/public/scores"),
    ("POST", "/api/public/otel/v1/traces"),
)

# OpenAPI-only or purely descriptive keywords: dropping them keeps the output small and valid 2020-12.
_DROPPED = {"description", "example", "examples", "nullable", "discriminator", "xml", "externalDocs", "deprecated"}
_SCHEMA_MAPS = {"properties", "patternProperties", "$defs"}

# REFERENCE §0: the running 4.16 server answers 201 on prompt creation (the spec says 200).
_STATUS_RENAMES = {"POST /api/public/v2/prompts": {"200": "201"}}
# REFERENCE §0: SDK 5.0.4 posts score arrays and expects 202/207 (its own generated models).
_BATCH_RESPONSES = {
    "202": {"type": "object", "properties": {"message": {"const": "Accepted"}}, "required": ["message"]},
    "207": {
        "type": "object",
        "properties": {
            "accepted": {"type": "integer"},
            "rejected": {"type": "integer"},
            "errors": {
                "type": "array",
                "items": {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]},
            },
        },
        "required": ["accepted", "rejected", "errors"],
    },
}
DEVIATIONS = (
    "POST /api/public/v2/prompts answers 201 (spec: 200); the 200 schema is filed under 201.",
    "POST /api/public/scores also takes a JSON array (SDK 5.0.4): each element is validated against the "
    "single-score request schema ('batch': true) and the reply is 202 {message: Accepted} or 207.",
    "OTLP protobuf bodies are checked by decoding; only OTLP/JSON bodies are validated against the request schema.",
)


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def convert(node: Any) -> Any:
    """Translate an OpenAPI 3.0 schema node into JSON Schema 2020-12 (`nullable` → null type/anyOf)."""
    if isinstance(node, list):
        return [convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED:
            continue
        if key == "$ref":
            out[key] = f"#/$defs/{_ref_name(value)}"
        elif key in _SCHEMA_MAPS:
            out[key] = {name: convert(schema) for name, schema in value.items()}
        else:
            out[key] = convert(value)
    return _nullable(out) if node.get("nullable") is True else out


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "type" in schema and isinstance(schema["type"], str):
        schema["type"] = [schema["type"], "null"]
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
        return schema
    if "$ref" in schema or any(k in schema for k in ("oneOf", "anyOf", "allOf", "enum")):
        return {"anyOf": [schema, {"type": "null"}]}
    return schema  # no type constraint at all: null is already allowed


def _refs_in(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {_ref_name(node["$ref"])} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs_in(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs_in(item) for item in node)) if node else set()
    return set()


def self_contained(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """Convert `schema` and bundle every component it reaches under `$defs`."""
    pending, defs = sorted(_refs_in(schema)), {}
    while pending:
        name = pending.pop()
        if name in defs:
            continue
        defs[name] = convert(components[name])
        pending.extend(sorted(_refs_in(components[name]) - defs.keys()))
    bundled = {"$schema": DIALECT, **convert(schema)}
    if defs:
        bundled["$defs"] = dict(sorted(defs.items()))
    return bundled


def _json_schema(container: dict[str, Any] | None) -> dict[str, Any] | None:
    content = (container or {}).get("content", {}).get("application/json")
    return content.get("schema") if content else None


def derive_operation(key: str, operation: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """Return {request, responses[, batch]} for one operation."""
    request = _json_schema(operation.get("requestBody"))
    responses: dict[str, Any] = {}
    for status, response in operation.get("responses", {}).items():
        if str(status).startswith("2"):
            schema = _json_schema(response)
            status = _STATUS_RENAMES.get(key, {}).get(str(status), str(status))
            responses[status] = self_contained(schema, components) if schema is not None else None
    derived: dict[str, Any] = {
        "request": self_contained(request, components) if request is not None else None,
        "responses": responses,
    }
    if key == "POST /api/public/scores":
        derived["batch"] = True
        derived["responses"].update({s: {"$schema": DIALECT, **schema} for s, schema in _BATCH_RESPONSES.items()})
    return derived


def derive(spec_text: str) -> dict[str, Any]:
    """Derive the whole contract document from the text of openapi.yml."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader parses the 17k-line spec ~10x faster
    spec = yaml.load(spec_text, Loader=loader)  # noqa: S506 - a safe loader either way
    components = spec["components"]["schemas"]
    operations = {}
    for method, path in OPERATIONS:
        key = f"{method} {path}"
        operations[key] = derive_operation(key, spec["paths"][path][method.lower()], components)
    return {
        "source": {"file": "openapi.yml", "sha256": hashlib.sha256(spec_text.encode()).hexdigest()},
        "deviations": list(DEVIATIONS),
        "operations": operations,
    }


def render(document: dict[str, Any]) -> str:
    """Serialise deterministically, so a re-derivation compares equal byte for byte."""
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    """Write contract_schemas.json from the given (or default) openapi.yml."""
    spec_path = Path(argv[1]) if len(argv) > 1 else DEFAULT_SPEC
    OUTPUT.write_text(render(derive(spec_path.read_text(encoding="utf-8"))), encoding="utf-8")
    print(f"wrote {OUTPUT} from {spec_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
