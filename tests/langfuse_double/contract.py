"""Validate request and response bodies against the committed schemas derived from openapi.yml."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from tests.langfuse_double.errors import JSON, issue

SCHEMA_FILE = Path(__file__).with_name("contract_schemas.json")

_ZOD_CODES = {
    "type": "invalid_type",
    "required": "invalid_type",
    "enum": "invalid_value",
    "const": "invalid_value",
    "oneOf": "invalid_union",
    "anyOf": "invalid_union",
    "minLength": "too_small",
    "maxLength": "too_big",
    "minimum": "too_small",
    "maximum": "too_big",
    "pattern": "invalid_format",
}


@dataclass(frozen=True)
class Violation:
    """Something that breaks the contract: a bad request body, an unknown route, or a bad double reply."""

    kind: str  # "request", "route", "response" or "double" (an exception inside the double)
    method: str
    path: str
    operation: str | None
    problems: tuple[str, ...]
    body: Any = None

    def __str__(self) -> str:
        where = self.operation or f"{self.method} {self.path}"
        return f"{self.kind} violation on {where}: " + "; ".join(self.problems)


def _issues_of(error: jsonschema.ValidationError, prefix: list[str | int]) -> list[dict[str, JSON]]:
    path = [*prefix, *error.absolute_path]
    code = _ZOD_CODES.get(str(error.validator), "custom")
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        return [issue(code, [*path, name], f"'{name}' is a required property", expected="defined") for name in missing]
    if error.validator in ("oneOf", "anyOf") and error.context:
        # "not valid under any of the given schemas" says nothing; name the closest branch's problem.
        best = jsonschema.exceptions.best_match(error.context)
        where = "/".join(map(str, [*path, *best.relative_path])) or "<root>"
        return [issue(code, path, f"Invalid input: {best.message} (at {where})")]
    return [issue(code, path, error.message)]


class Contract:
    """The derived per-operation schemas, with compiled validators."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.operations: dict[str, dict[str, Any]] = document["operations"]
        self._validators: dict[str, jsonschema.protocols.Validator] = {}

    @classmethod
    @functools.cache
    def load(cls) -> Contract:
        """Load the committed contract_schemas.json (once per process)."""
        return cls(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))

    def _validator(self, key: str, schema: dict[str, Any]) -> jsonschema.protocols.Validator:
        if key not in self._validators:
            self._validators[key] = jsonschema.Draft202012Validator(schema)
        return self._validators[key]

    def _check(self, key: str, schema: dict[str, Any], body: Any, prefix: list[str | int]) -> list[dict[str, JSON]]:
        errors = sorted(self._validator(key, schema).iter_errors(body), key=lambda e: list(e.absolute_path))
        return [found for error in errors for found in _issues_of(error, prefix)]

    def request_issues(self, operation: str, body: Any) -> list[dict[str, JSON]]:
        """Return zod-style issues for a request body (empty when it conforms)."""
        spec = self.operations[operation]
        schema = spec["request"]
        if schema is None:
            return []
        if spec.get("batch") and isinstance(body, list):
            return [
                found
                for index, element in enumerate(body)
                for found in self._check(f"{operation} request", schema, element, [index])
            ]
        return self._check(f"{operation} request", schema, body, [])

    def response_problems(self, operation: str, status: int, body: Any) -> list[str]:
        """Return what is wrong with a 2xx reply the double is about to send."""
        responses = self.operations[operation]["responses"]
        if not 200 <= status < 300:
            return []
        if str(status) not in responses:
            return [f"status {status} is not documented (documented: {sorted(responses)})"]
        schema = responses[str(status)]
        if schema is None:
            return [] if body is None else [f"status {status} must have an empty body"]
        found = self._check(f"{operation} {status}", schema, body, [])
        return [f"{'/'.join(map(str, i['path'])) or '<root>'}: {i['message']}" for i in found]
