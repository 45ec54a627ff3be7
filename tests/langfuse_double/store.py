"""The double's whole state behind one lock, plus a direct editing API for tests ("edits in the UI")."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from tests.langfuse_double.datasets import DatasetRegistry
from tests.langfuse_double.errors import invalid_request_data
from tests.langfuse_double.prompts import PromptRegistry
from tests.langfuse_double.scores import ScoreRegistry, score_issues
from tests.langfuse_double.spans import Span, SpanIndex


class Store:
    """Prompts, datasets, scores and spans of one project.

    HTTP handlers run under `lock`; the editing methods below take it themselves, so tests may call
    them while the SDK is talking to the server.
    """

    def __init__(self, project_id: str, project_name: str = "promptops-test") -> None:
        self.project_id = project_id
        self.project_name = project_name
        self.lock = threading.RLock()
        self.prompts = PromptRegistry(project_id)
        self.datasets = DatasetRegistry(project_id)
        self.scores = ScoreRegistry(project_id)
        self.spans = SpanIndex()
        self.last_span_at: float | None = None

    def add_spans(self, spans: list[Span]) -> None:
        """Index an OTLP batch and remember when traces last arrived (for the health check)."""
        with self.lock:
            self.spans.add(spans)
            if spans:
                self.last_span_at = time.monotonic()

    # -- editing as a person in the Langfuse UI would ------------------------------------------

    def create_prompt_version(
        self,
        name: str,
        prompt: str | list[dict[str, Any]],
        *,
        labels: Sequence[str] = (),
        tags: Sequence[str] | None = None,
        config: Any = None,
        commit_message: str | None = None,
        created_by: str = "user",
    ) -> dict[str, Any]:
        """Create the next version with the API's rules (chat when `prompt` is a list); return the row."""
        body: dict[str, Any] = {
            "name": name,
            "prompt": prompt,
            "labels": list(labels),
            "config": config,
            "tags": list(tags) if tags is not None else None,
            "commitMessage": commit_message,
        }
        if isinstance(prompt, list):
            body["type"] = "chat"
        with self.lock:
            return self.prompts.create(body, created_by).row()

    def set_prompt_labels(self, name: str, version: int, labels: Sequence[str]) -> dict[str, Any]:
        """Set a version's labels exactly (the UI may remove labels; the API cannot)."""
        with self.lock:
            return self.prompts.set_labels(name, version, list(labels)).row()

    def delete_prompt(self, name: str, version: int | None = None, label: str | None = None) -> None:
        """Delete versions with the API's rules (latest re-attached, dependants protected)."""
        with self.lock:
            self.prompts.delete(name, version, label)

    def create_dataset(self, name: str, **fields: Any) -> dict[str, Any]:
        """Upsert a dataset; `fields` use API names (description, metadata, inputSchema, …)."""
        with self.lock:
            return self.datasets.upsert_dataset({"name": name, **fields}).json()

    def upsert_dataset_item(self, dataset_name: str, **fields: Any) -> dict[str, Any]:
        """Upsert an item; `fields` use API names (id, input, expectedOutput, status, …)."""
        with self.lock:
            return self.datasets.upsert_item({"datasetName": dataset_name, **fields})

    def add_score(self, **fields: Any) -> str:
        """Store a score with API field names after the API's rule checks; return its id."""
        issues = score_issues(fields)
        if issues:
            raise invalid_request_data(issues)
        with self.lock:
            return self.scores.upsert(fields)
