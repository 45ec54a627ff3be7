"""Datasets and versioned dataset items: upserts, archive, item id uniqueness (REFERENCE §4.1-§4.2)."""

from __future__ import annotations

import copy
import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jsonschema

from tests.langfuse_double import clock
from tests.langfuse_double.errors import (
    conflict,
    invalid_request,
    invalid_request_data,
    issue,
    not_found,
    too_big_string,
    too_small_string,
)
from tests.langfuse_double.names import check_entity_name

_ITEM_FIELDS = ("input", "expectedOutput", "metadata", "sourceTraceId", "sourceObservationId", "status")
_SCHEMA_TARGETS = (("inputSchema", "input"), ("expectedOutputSchema", "expectedOutput"))


@dataclass
class Dataset:
    """One dataset row."""

    id: str
    name: str
    project_id: str
    created_at: datetime
    updated_at: datetime
    fields: dict[str, Any]  # description, metadata, inputSchema, expectedOutputSchema

    def json(self) -> dict[str, Any]:
        """Render as the API's Dataset object."""
        return {
            "id": self.id,
            "name": self.name,
            **copy.deepcopy(self.fields),
            "projectId": self.project_id,
            "createdAt": clock.iso(self.created_at),
            "updatedAt": clock.iso(self.updated_at),
        }


@dataclass
class DatasetItem:
    """A dataset item with its version history (every change writes a new valid-from snapshot)."""

    id: str
    dataset_id: str
    created_at: datetime
    history: list[tuple[datetime, dict[str, Any] | None]] = field(default_factory=list)

    def state(self, at: datetime | None = None) -> dict[str, Any] | None:
        """Return the fields valid at `at` (default: now); None when deleted or not yet created."""
        current = None
        for valid_from, snapshot in self.history:
            if at is None or valid_from <= at:
                current = snapshot
        return current

    def updated_at(self) -> datetime:
        """Return when the item last changed."""
        return self.history[-1][0]


def _page_params(total: int, page: int, limit: int) -> dict[str, int]:
    return {"page": page, "limit": limit, "totalItems": total, "totalPages": math.ceil(total / limit)}


class DatasetRegistry:
    """All datasets and items of one project. Not thread-safe: the Store serialises access."""

    def __init__(self, project_id: str) -> None:
        self.project_id = project_id
        self._datasets: dict[str, Dataset] = {}
        self._items: dict[str, DatasetItem] = {}

    # -- datasets ------------------------------------------------------------------------------

    def upsert_dataset(self, body: dict[str, Any]) -> Dataset:
        """POST /v2/datasets: create, or update the dataset with that name.

        description/metadata null or omitted keep the old value; the JSON schemas are cleared by
        null (the SDK always sends null for them) and kept only when omitted.
        """
        name, issues = check_entity_name(body["name"], ["name"], prompt=False)
        if issues:
            raise invalid_request_data(issues)
        moment = clock.now()
        existing = self._datasets.get(name)
        fields = (
            dict(existing.fields)
            if existing
            else dict.fromkeys(("description", "metadata", "inputSchema", "expectedOutputSchema"))
        )
        for key in ("description", "metadata"):
            if body.get(key) is not None:
                fields[key] = copy.deepcopy(body[key])
        for key, _ in _SCHEMA_TARGETS:
            if key in body:
                fields[key] = copy.deepcopy(body[key])
        self._check_schemas(fields, existing)
        if existing is None:
            existing = Dataset(str(uuid.uuid4()), name, self.project_id, moment, moment, fields)
            self._datasets[name] = existing
        else:
            existing.fields, existing.updated_at = fields, moment
        return existing

    def _check_schemas(self, fields: dict[str, Any], dataset: Dataset | None) -> None:
        for key, _ in _SCHEMA_TARGETS:
            if fields[key] is None:
                continue
            try:
                jsonschema.validators.validator_for(fields[key]).check_schema(fields[key])
            except jsonschema.SchemaError as error:
                raise invalid_request(f"Invalid JSON Schema in {key}: {error.message}") from error
        if dataset is not None:
            for item in self._items.values():
                state = item.state()
                if item.dataset_id == dataset.id and state is not None:
                    _check_item_against(fields, item.id, state)

    def dataset(self, name: str) -> Dataset:
        """Return the dataset with that name or raise the server's 404."""
        if name not in self._datasets:
            raise not_found("Dataset not found")
        return self._datasets[name]

    def list_datasets(self, page: int, limit: int) -> dict[str, Any]:
        """GET /v2/datasets: newest first."""
        ordered = sorted(self._datasets.values(), key=lambda d: (-d.created_at.timestamp(), d.id))
        window = ordered[(page - 1) * limit : page * limit]
        return {"data": [d.json() for d in window], "meta": _page_params(len(ordered), page, limit)}

    def _dataset_by_id(self, dataset_id: str) -> Dataset:
        return next(d for d in self._datasets.values() if d.id == dataset_id)

    # -- items ---------------------------------------------------------------------------------

    def upsert_item(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /dataset-items: create, or update by id (null/omitted fields keep old values)."""
        item_id = body.get("id")
        if item_id is not None and not 1 <= len(item_id) <= 255:
            short = len(item_id) < 1
            raise invalid_request_data([too_small_string(["id"], 1) if short else too_big_string(["id"], 255)])
        dataset = self._datasets.get(body["datasetName"])
        if dataset is None:
            raise not_found(f"Dataset {body['datasetName']} not found for project {self.project_id}")
        existing = self._items.get(item_id) if item_id else None
        if existing is not None and existing.state() is not None and existing.dataset_id != dataset.id:
            raise conflict(f"The dataset item with id {item_id} already exists in a dataset other than {dataset.name}")
        previous = existing.state() if existing else None
        state = dict(previous) if previous else {**dict.fromkeys(_ITEM_FIELDS), "status": "ACTIVE"}
        for key in _ITEM_FIELDS:
            if body.get(key) is not None:
                state[key] = copy.deepcopy(body[key])
        _check_item_against(dataset.fields, item_id or "new", state)
        moment = clock.now()
        if existing is None or previous is None:
            existing = DatasetItem(item_id or str(uuid.uuid4()), dataset.id, moment)
            self._items[existing.id] = existing
        existing.history.append((moment, state))
        return self._item_json(existing, state)

    def _item_json(self, item: DatasetItem, state: dict[str, Any]) -> dict[str, Any]:
        dataset = self._dataset_by_id(item.dataset_id)
        return {
            "id": item.id,
            **copy.deepcopy(state),
            "datasetId": dataset.id,
            "datasetName": dataset.name,
            "createdAt": clock.iso(item.created_at),
            "updatedAt": clock.iso(item.updated_at()),
            "mediaReferences": [],
        }

    def get_item(self, item_id: str) -> dict[str, Any]:
        """GET /dataset-items/{id}: any status."""
        item = self._items.get(item_id)
        state = item.state() if item else None
        if item is None or state is None:
            raise not_found("Dataset item not found")
        return self._item_json(item, state)

    def delete_item(self, item_id: str) -> dict[str, str]:
        """DELETE /dataset-items/{id}."""
        self.get_item(item_id)
        self._items[item_id].history.append((clock.now(), None))
        return {"message": "Dataset item successfully deleted"}

    def list_items(self, filters: dict[str, Any], page: int, limit: int) -> dict[str, Any]:
        """GET /dataset-items: ACTIVE items only, newest first, optionally as of `version`."""
        if filters.get("version") is not None and not filters.get("datasetName"):
            raise invalid_request_data(
                [issue("custom", ["version"], "datasetName is required when version is specified")]
            )
        dataset_id = self.dataset(filters["datasetName"]).id if filters.get("datasetName") else None
        rows = []
        for item in sorted(self._items.values(), key=lambda i: (-i.created_at.timestamp(), i.id)):
            state = item.state(filters.get("version"))
            if state is None or state["status"] != "ACTIVE":
                continue
            if dataset_id is not None and item.dataset_id != dataset_id:
                continue
            if not all(filters.get(k) in (None, state[k]) for k in ("sourceTraceId", "sourceObservationId")):
                continue
            rows.append(self._item_json(item, state))
        window = rows[(page - 1) * limit : page * limit]
        return {"data": window, "meta": _page_params(len(rows), page, limit)}

    def items_of(self, dataset_name: str, include_archived: bool) -> list[dict[str, Any]]:
        """Return the current items of a dataset (test reader), oldest first."""
        dataset = self.dataset(dataset_name)
        found = []
        for item in sorted(self._items.values(), key=lambda i: (i.created_at, i.id)):
            state = item.state()
            if item.dataset_id == dataset.id and state is not None:
                if include_archived or state["status"] == "ACTIVE":
                    found.append(self._item_json(item, state))
        return found

    def datasets(self) -> list[dict[str, Any]]:
        """Return every dataset (test reader), oldest first."""
        return [d.json() for d in sorted(self._datasets.values(), key=lambda d: d.created_at)]


def _check_item_against(fields: dict[str, Any], item_id: str, state: dict[str, Any]) -> None:
    for schema_key, value_key in _SCHEMA_TARGETS:
        schema = fields.get(schema_key)
        if schema is None or state.get(value_key) is None:
            continue
        error = jsonschema.exceptions.best_match(
            jsonschema.validators.validator_for(schema)(schema).iter_errors(state[value_key])
        )
        if error is not None:
            raise invalid_request(
                f"Dataset item {item_id}: {value_key} does not match the dataset's {schema_key}: {error.message}"
            )
