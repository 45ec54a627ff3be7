"""Datasets in Langfuse: upsert items by id, archive what git no longer has, redacted before upload."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from promptops.errors import RegistryError
from promptops.model import DatasetItem, DatasetSpec
from promptops.registry.base import DatasetInfo, DatasetSyncResult, RemoteItem
from promptops.registry.langfuse_errors import NO_SDK_RETRIES, Caller
from promptops.registry.langfuse_wire import canonical, same_item, to_remote_item

PAGE_LIMIT = 100  # the server's maximum for prompt and dataset item listings
WORKERS = 8  # concurrent requests for list pages, labelled versions and dataset items


class LangfuseDatasets:
    """The dataset half of the Langfuse registry, on the registry's client and retry policy."""

    def __init__(self, client: Any, calls: Caller, mask: Callable[..., Any], where: str) -> None:
        self.client, self.calls, self.mask, self.where = client, calls, mask, where

    def sync(self, dataset: DatasetSpec, *, dry_run: bool = False) -> DatasetSyncResult:
        """Create or update the dataset, upsert changed items by id, archive items no longer in git.

        Items, description and metadata go up redacted, like traces: personal data and secrets in a dataset file
        never leave the process. With `dry_run`, only count what would be written.
        """
        current = self._current(dataset.name)
        created = current is None
        if not dry_run:
            self._ensure_dataset(dataset, current)
        remote = {} if created else {item.id: item for item in self.items(dataset.name)}
        items = [self._redacted(item) for item in dataset.items]
        changed = [item for item in items if not same_item(item, remote.get(item.id))]
        in_git = {item.id for item in dataset.items}
        gone = sorted(set(remote) - in_git)
        if dry_run:
            return DatasetSyncResult(dataset.name, created, len(changed), len(gone), len(items) - len(changed))
        with ThreadPoolExecutor(WORKERS) as pool:
            # list() re-raises the first failure here instead of losing it in the pool
            list(pool.map(lambda item: self._upsert_item(dataset.name, item.id, item, "ACTIVE"), changed))
            list(pool.map(lambda item_id: self._upsert_item(dataset.name, item_id, None, "ARCHIVED"), gone))
        return DatasetSyncResult(dataset.name, created, len(changed), len(gone), len(dataset.items) - len(changed))

    def _redacted(self, item: DatasetItem) -> DatasetItem:
        return replace(
            item, input=self.mask(data=dict(item.input)), expected_output=self.mask(data=item.expected_output),
            metadata=self.mask(data=dict(item.metadata)),
        )  # fmt: skip

    def _current(self, name: str) -> Any | None:
        """Return the dataset as Langfuse has it, or None when it does not exist."""
        from langfuse.api.core.api_error import ApiError

        try:
            return self.calls.call(
                f"reading dataset {name}",
                lambda: self.client.api.datasets.get(quote(name, safe=""), request_options=NO_SDK_RETRIES),
                passthrough=(404,),
            )
        except ApiError:
            return None

    def _ensure_dataset(self, dataset: DatasetSpec, current: Any | None) -> None:
        """Create the dataset if missing, or update description/metadata if they differ."""
        # Masked like the items: a description or metadata quoting a customer or a key never leaves the process.
        wanted_description: str = self.mask(data=dataset.description)
        wanted_metadata = self.mask(data=dict(dataset.metadata))
        if current is not None and (current.description or "") == wanted_description:
            if canonical(current.metadata or {}) == canonical(wanted_metadata):
                return
        # The low-level create omits the JSON-schema fields: SDK create_dataset sends them as null, and the
        # server's upsert-by-name then wipes schemas someone set in the UI (REFERENCE §0.9).
        self.calls.call(
            f"creating dataset {dataset.name}",
            lambda: self.client.api.datasets.create(
                name=dataset.name,
                description=wanted_description,
                metadata=wanted_metadata,
                request_options=NO_SDK_RETRIES,
            ),
        )

    def _upsert_item(self, dataset: str, item_id: str, item: DatasetItem | None, status: str) -> None:
        """Upsert one item by id: the same body twice is the same result, so retries are safe."""
        from langfuse.api import DatasetStatus

        fields: dict[str, Any] = {}
        if item is not None:
            fields = {
                "input": dict(item.input),
                "expected_output": item.expected_output,
                "metadata": dict(item.metadata),
            }
        self.calls.call(
            f"writing item {item_id} of dataset {dataset}",
            lambda: self.client.api.dataset_items.create(
                dataset_name=dataset,
                id=item_id,
                status=DatasetStatus(status),
                request_options=NO_SDK_RETRIES,
                **fields,
            ),
        )

    def listing(self) -> list[DatasetInfo]:
        """Return every dataset of the project (all pages), sorted by name."""

        def page(number: int) -> Any:
            return self.calls.call(
                f"listing datasets (page {number})",
                lambda: self.client.api.datasets.list(page=number, limit=PAGE_LIMIT, request_options=NO_SDK_RETRIES),
            )

        first = page(1)
        pages = [first, *(page(n) for n in range(2, first.meta.total_pages + 1))]
        found = {
            d.name: DatasetInfo(d.name, d.description or "", dict(d.metadata or {})) for p in pages for d in p.data
        }
        return [found[name] for name in sorted(found)]

    def items(self, name: str) -> list[RemoteItem]:
        """Return the active items of a dataset (the API lists no archived ones)."""
        from langfuse.api.core.api_error import ApiError

        def page(number: int) -> Any:
            return self.calls.call(
                f"listing items of dataset {name}",
                lambda: self.client.api.dataset_items.list(
                    dataset_name=name, page=number, limit=PAGE_LIMIT, request_options=NO_SDK_RETRIES
                ),
                passthrough=(404,),
            )

        try:
            first = page(1)
        except ApiError:
            raise RegistryError(f"dataset {name!r} is not in {self.where}") from None
        pages = [first]
        if first.meta.total_pages > 1:
            with ThreadPoolExecutor(WORKERS) as pool:
                pages += list(pool.map(page, range(2, first.meta.total_pages + 1)))
        return [to_remote_item(item) for p in pages for item in p.data]
