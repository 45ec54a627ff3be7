"""HTTP handlers of the dataset and dataset-item routes (REFERENCE §4.1)."""

from __future__ import annotations

from urllib.parse import unquote

from tests.langfuse_double.store import Store
from tests.langfuse_double.wire import Call, QueryReader, Reply


def create_dataset(store: Store, call: Call) -> Reply:
    """POST /api/public/v2/datasets (upsert by name)."""
    return Reply(200, store.datasets.upsert_dataset(call.body).json())


def list_datasets(store: Store, call: Call) -> Reply:
    """GET /api/public/v2/datasets."""
    query = QueryReader(call.query)
    page = query.integer("page", default=1, minimum=1) or 1
    limit = query.integer("limit", default=50, minimum=1, maximum=100) or 50
    query.finish()
    return Reply(200, store.datasets.list_datasets(page, limit))


def get_dataset(store: Store, call: Call) -> Reply:
    """GET /api/public/v2/datasets/{datasetName}."""
    # Next.js decoded the segment once; the route's zod schema decodes it a second time.
    return Reply(200, store.datasets.dataset(unquote(call.params["datasetName"])).json())


def create_item(store: Store, call: Call) -> Reply:
    """POST /api/public/dataset-items (upsert by id)."""
    return Reply(200, store.datasets.upsert_item(call.body))


def list_items(store: Store, call: Call) -> Reply:
    """GET /api/public/dataset-items: ACTIVE items only."""
    query = QueryReader(call.query)
    filters = {
        "datasetName": query.text("datasetName"),
        "sourceTraceId": query.text("sourceTraceId"),
        "sourceObservationId": query.text("sourceObservationId"),
        "version": query.timestamp("version"),
    }
    page = query.integer("page", default=1, minimum=1) or 1
    limit = query.integer("limit", default=50, minimum=1) or 50
    query.finish()
    return Reply(200, store.datasets.list_items(filters, page, limit))


def get_item(store: Store, call: Call) -> Reply:
    """GET /api/public/dataset-items/{id}."""
    return Reply(200, store.datasets.get_item(call.params["id"]))


def delete_item(store: Store, call: Call) -> Reply:
    """DELETE /api/public/dataset-items/{id}."""
    return Reply(200, store.datasets.delete_item(call.params["id"]))
