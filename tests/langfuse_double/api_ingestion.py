"""HTTP handlers of health, projects, scores and OTLP traces (REFERENCE §1.4, §5.1, §6.5)."""

from __future__ import annotations

import time

from tests.langfuse_double.errors import ApiFailure, invalid_request_data
from tests.langfuse_double.otlp import decode_export
from tests.langfuse_double.scores import score_issues
from tests.langfuse_double.store import Store
from tests.langfuse_double.wire import Call, Reply

SERVER_VERSION = "4.16.0"
RECENT_EVENTS_SECONDS = 180


def health(store: Store, call: Call) -> Reply:
    """GET /api/public/health (no auth)."""
    if call.query.get("failIfNoRecentEvents") == "true":
        last = store.last_span_at
        if last is None or time.monotonic() - last > RECENT_EVENTS_SECONDS:
            return Reply(503, {"status": "No traces within the last 3 minutes", "version": SERVER_VERSION})
    return Reply(200, {"status": "OK", "version": SERVER_VERSION})


def projects(store: Store, call: Call) -> Reply:
    """GET /api/public/projects: the key's single project."""
    organization = {"id": f"{store.project_id}-org", "name": f"{store.project_name} organization"}
    project = {"id": store.project_id, "name": store.project_name, "organization": organization, "metadata": {}}
    return Reply(200, {"data": [project]})


def create_scores(store: Store, call: Call) -> Reply:
    """POST /api/public/scores: one object → 200 {id}; an array (SDK 5.0.4) → 202, or 207 on rejects."""
    if not isinstance(call.body, list):
        issues = score_issues(call.body)
        if issues:
            raise invalid_request_data(issues)
        return Reply(200, {"id": store.scores.upsert(call.body)})
    errors: list[dict[str, str]] = []
    for index, score in enumerate(call.body):
        issues = score_issues(score)
        if issues:
            errors.append({"message": f"[{index}] " + "; ".join(i["message"] for i in issues)})
        else:
            store.scores.upsert(score)
    if errors:
        return Reply(207, {"accepted": len(call.body) - len(errors), "rejected": len(errors), "errors": errors})
    return Reply(202, {"message": "Accepted"})


def export_traces(store: Store, call: Call) -> Reply:
    """POST /api/public/otel/v1/traces (protobuf or OTLP/JSON, optionally gzip)."""
    version = call.headers.get("x-langfuse-ingestion-version")
    if version is not None and (not version.strip().isdigit() or int(version) > 4):
        raise ApiFailure(400, {"error": f"Unsupported x-langfuse-ingestion-version: {version}"})
    spans = decode_export(call.raw_body, call.headers.get("content-type", ""), call.headers.get("content-encoding", ""))
    store.add_spans(spans)
    return Reply(200, {})
