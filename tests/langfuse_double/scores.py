"""Scores: target, dataType and value rules, upsert by id (REFERENCE §5.1)."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from tests.langfuse_double import clock
from tests.langfuse_double.errors import JSON, issue, too_big_string, too_small_string

Issues = list[dict[str, JSON]]

TARGET_MESSAGE = (
    "Provide exactly one of the following: traceId (with optional observationId), sessionId or datasetRunId. "
    "ObservationId requires traceId."
)


def _exactly_one_target(body: dict[str, Any]) -> bool:
    trace, session, run, observation = (
        bool(body.get(k)) for k in ("traceId", "sessionId", "datasetRunId", "observationId")
    )
    return (
        (trace and not session and not run)
        or (session and not trace and not run and not observation)
        or (run and not trace and not session and not observation)
    )


def infer_data_type(body: dict[str, Any]) -> str:
    """Return the explicit dataType, else NUMERIC for numbers and CATEGORICAL for strings."""
    if body.get("dataType"):
        return str(body["dataType"])
    return "CATEGORICAL" if isinstance(body.get("value"), str) else "NUMERIC"


def _value_issues(data_type: str, value: Any) -> Issues:
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if data_type in ("NUMERIC", "BOOLEAN"):
        if not numeric:
            return [
                issue("invalid_type", ["value"], "Invalid input: expected number, received string", expected="number")
            ]
        if data_type == "BOOLEAN" and value not in (0, 1):
            return [issue("custom", ["value"], "Value must be a number equal to either 0 or 1 for data type BOOLEAN")]
        return []
    if not isinstance(value, str):
        return [issue("invalid_type", ["value"], "Invalid input: expected string, received number", expected="string")]
    if data_type == "TEXT" and not 1 <= len(value) <= 500:
        return [too_small_string(["value"], 1) if not value else too_big_string(["value"], 500)]
    return []


def score_issues(body: dict[str, Any]) -> Issues:
    """Return the zod issues the server would report for a contract-valid score body."""
    issues: Issues = []
    if not body.get("name"):
        issues.append(too_small_string(["name"], 1))
    if not _exactly_one_target(body):
        issues.append(issue("custom", ["traceId", "sessionId", "datasetRunId", "observationId"], TARGET_MESSAGE))
    data_type = infer_data_type(body)
    issues += _value_issues(data_type, body.get("value"))
    if data_type == "CORRECTION" and not body.get("traceId"):
        issues.append(issue("custom", ["traceId"], "Correction scores can only be created on traces or observations"))
    if body.get("source") == "ANNOTATION" and not body.get("configId") and data_type != "CORRECTION":
        issues.append(issue("custom", ["configId"], "configId is required for scores with source ANNOTATION"))
    return issues


class ScoreRegistry:
    """Stored scores, keyed by id. Not thread-safe: the Store serialises access."""

    def __init__(self, project_id: str) -> None:
        self.project_id = project_id
        self._scores: dict[str, dict[str, Any]] = {}

    def upsert(self, body: dict[str, Any]) -> str:
        """Store a rule-checked score (re-sending an id replaces it); return its id."""
        score = copy.deepcopy(body)
        score["id"] = body.get("id") or str(uuid.uuid4())
        score["dataType"] = infer_data_type(body)
        score["environment"] = body.get("environment") or "default"
        score["source"] = body.get("source") or "API"
        score["timestamp"] = body.get("timestamp") or clock.now_iso()
        score["projectId"] = self.project_id
        if score["dataType"] == "CORRECTION":
            score["name"] = "output"
        self._scores.pop(score["id"], None)  # an upsert moves the score to the end, like a new write
        self._scores[score["id"]] = score
        return str(score["id"])

    def all(self) -> list[dict[str, Any]]:
        """Return every score in write order."""
        return [copy.deepcopy(s) for s in self._scores.values()]
