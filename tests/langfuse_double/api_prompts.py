"""HTTP handlers of the prompt routes (REFERENCE §2.1)."""

from __future__ import annotations

from tests.langfuse_double.errors import invalid_request_data, issue
from tests.langfuse_double.store import Store
from tests.langfuse_double.wire import Call, QueryReader, Reply


def list_prompts(store: Store, call: Call) -> Reply:
    """GET /api/public/v2/prompts."""
    query = QueryReader(call.query)
    page = query.integer("page", default=1, minimum=1) or 1
    limit = query.integer("limit", default=10, minimum=1, maximum=100) or 10
    filters = {
        "name": query.text("name"),
        "label": query.text("label"),
        "tag": query.text("tag"),
        "version": query.integer("version") or None,
        "fromUpdatedAt": query.timestamp("fromUpdatedAt"),
        "toUpdatedAt": query.timestamp("toUpdatedAt"),
    }
    query.finish()
    return Reply(200, store.prompts.list_meta(filters, page, limit))


def create_prompt(store: Store, call: Call) -> Reply:
    """POST /api/public/v2/prompts: 201 with the raw row (the spec says 200)."""
    return Reply(201, store.prompts.create(call.body, created_by="API").row())


def get_prompt(store: Store, call: Call) -> Reply:
    """GET /api/public/v2/prompts/{promptName}."""
    query = QueryReader(call.query)
    version = query.integer("version")
    label = query.text("label")
    resolve = query.boolean("resolve", default=True)
    query.finish()
    return Reply(200, store.prompts.get(call.params["promptName"], version, label, resolve))


def delete_prompt(store: Store, call: Call) -> Reply:
    """DELETE /api/public/v2/prompts/{promptName}: 204 without a body."""
    query = QueryReader(call.query)
    version = query.integer("version")
    label = query.text("label")
    query.finish()
    store.prompts.delete(call.params["promptName"], version, label)
    return Reply(204)


def update_labels(store: Store, call: Call) -> Reply:
    """PATCH /api/public/v2/prompts/{name}/versions/{version}: additive label update."""
    version = QueryReader({"version": call.params["version"]})
    number = version.integer("version")
    version.finish()
    new_labels = call.body["newLabels"]
    if "latest" in new_labels:
        # Only this and the string[] shape are validated on PATCH: no label regex or length check.
        message = "Label 'latest' is always assigned to the latest prompt version"
        raise invalid_request_data([issue("custom", ["newLabels"], message)])
    row = store.prompts.add_labels(call.params["name"], number or 0, new_labels).row()
    return Reply(200, row)
