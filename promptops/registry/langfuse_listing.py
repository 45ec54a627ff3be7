"""Reading the state of every prompt from Langfuse in as few requests as correctness allows.

The unfiltered listing (all pages) gives every prompt's versions, the union of its labels (which carry the
decisions) and the newest config. Where production is has to come from elsewhere: the label=production
listing, or per prompt a listing filtered by name and label. A prompt whose unfiltered entry (versions, labels,
lastUpdatedAt) is what it was at the last read cannot have moved production (a label move changes the
versions' updatedAt), so its production is taken from this machine's signed cache (cachefile.py); only the
others are read again, by name when they are few, else with the production listing. Stored content is
immutable, so a version's text, once read, is cached too (keyed by its content label, which a reused version
number would not carry).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from promptops.cachefile import SignedJson
from promptops.registry.base import PromptState, PromptVersion
from promptops.registry.labels import CONTENT_RE, PRODUCTION
from promptops.registry.langfuse_datasets import PAGE_LIMIT, WORKERS
from promptops.registry.langfuse_errors import NO_SDK_RETRIES, Caller
from promptops.registry.langfuse_wire import to_state


def _key(meta: Any) -> list[Any]:
    """Return what must be unchanged for a prompt's cached production to hold."""
    return [sorted(meta.versions), sorted(meta.labels), str(meta.last_updated_at)]


class LangfuseListing:
    """Prompt listings of one Langfuse project, with an optional cache of where production is."""

    def __init__(self, client: Any, calls: Caller, cache: SignedJson | None) -> None:
        self.client, self.calls, self.cache = client, calls, cache
        self._cached: dict[str, Any] | None = None
        self._dirty = False
        self._lock = threading.Lock()  # diffs fetch texts from several threads at once

    def _loaded(self) -> dict[str, Any]:
        with self._lock:
            if self._cached is None:
                self._cached = self.cache.load() if self.cache else {}
            return self._cached

    def states(self) -> list[PromptState]:
        """Return every prompt's state: the unfiltered listing, plus production where it may have moved."""
        every = {m.name: m for m in self._all(None)}  # by name: a page boundary shifting mid-listing repeats one
        known = self._loaded().get("production", {})
        production: dict[str, Any] = {}
        stale = []
        for name, meta in every.items():
            entry = known.get(name)
            if PRODUCTION not in meta.labels:
                continue  # no version holds production
            if isinstance(entry, dict) and entry.get("key") == _key(meta):
                production[name] = entry["meta"]
            elif len(meta.versions) == 1:
                # One version holds every label: the unfiltered meta is the label=production one (REFERENCE §2.1).
                production[name] = _production_meta(meta)
            else:
                stale.append(name)
        pages = -(-len(every) // PAGE_LIMIT)  # what the production listing would cost at most
        if len(stale) > pages:
            read = {m.name: _production_meta(m) for m in self._all(PRODUCTION)}
        else:
            with ThreadPoolExecutor(WORKERS) as pool:
                found = list(pool.map(self._production_of, stale))
            read = {name: meta for name, meta in zip(stale, found, strict=True) if meta is not None}
        production.update((name, read[name]) for name in stale if name in read)
        serving = {f"{n}\0{max(m['versions'])}\0" for n, m in production.items()}
        content = {k: v for k, v in self._loaded().get("content", {}).items() if k[: k.rindex("\0") + 1] in serving}
        self._remember(
            {
                "production": {n: {"key": _key(every[n]), "meta": production[n]} for n in production},
                "content": content,  # only what production holds now: the cache does not grow
            }
        )
        return [
            to_state(meta, _Meta(production[name]) if name in production else None)
            for name, meta in sorted(every.items())
        ]

    def _remember(self, update: dict[str, Any]) -> None:
        """Merge `update` into what is cached; `flush()` writes it (once per command, not once per change)."""
        if self.cache is None:
            return
        loaded = self._loaded()
        with self._lock:
            if not loaded and not any(update.values()):
                return  # nothing to remember: no cache file appears for an empty project
            data = {**loaded, **update}
            if data != loaded:
                self._cached, self._dirty = data, True

    def flush(self) -> None:
        """Write the cache if this command changed it."""
        with self._lock:
            if self.cache is not None and self._dirty and self._cached is not None:
                self.cache.save(self._cached)
                self._dirty = False

    def _all(self, label: str | None) -> list[Any]:
        """Fetch page 1 of a listing, then (totalPages now known) all remaining pages at once."""
        first = self._page(label, 1)
        with ThreadPoolExecutor(WORKERS) as pool:
            rest = list(pool.map(lambda n: self._page(label, n), range(2, first.meta.total_pages + 1)))
        return [m for page in (first, *rest) for m in page.data]

    def _page(self, label: str | None, page: int) -> Any:
        return self.calls.call(
            f"listing prompts{f' labelled {label}' if label else ''} (page {page})",
            lambda: self.client.api.prompts.list(
                label=label, page=page, limit=PAGE_LIMIT, request_options=NO_SDK_RETRIES
            ),
        )

    def _production_of(self, name: str) -> dict[str, Any] | None:
        page = self.calls.call(
            f"listing {name} labelled production",
            lambda: self.client.api.prompts.list(
                name=name, label=PRODUCTION, limit=PAGE_LIMIT, request_options=NO_SDK_RETRIES
            ),
        )
        return next((_production_meta(m) for m in page.data if m.name == name), None)

    # -- immutable content -------------------------------------------------------------------------

    def cached_version(self, name: str, version: int, labels: Sequence[str]) -> PromptVersion | None:
        """Return a version's content read before, when `labels` (as listed now) name its content."""
        mark = next((label for label in labels if CONTENT_RE.match(label)), None)
        raw = self._loaded().get("content", {}).get(f"{name}\0{version}\0{mark}") if mark else None
        if not isinstance(raw, dict):
            return None
        try:
            prompt = raw["prompt"] if isinstance(raw["prompt"], str) else tuple(raw["prompt"])
            return PromptVersion(
                name, version, raw["type"], prompt, raw["config"], tuple(labels), tuple(raw["tags"]),
                raw["commit_message"], raw.get("created_at"), raw.get("created_by"),
            )  # fmt: skip
        except (KeyError, TypeError):
            return None

    def remember_version(self, v: PromptVersion) -> None:
        """Keep a version's content for later reads (only versions that carry their content label)."""
        mark = next((label for label in v.labels if CONTENT_RE.match(label)), None)
        if mark is None or self.cache is None:
            return
        entry = {
            "type": v.type,
            "prompt": v.prompt if isinstance(v.prompt, str) else [dict(m) for m in v.prompt],
            "config": dict(v.config),
            "tags": list(v.tags),
            "commit_message": v.commit_message,
            "created_at": v.created_at,
            "created_by": v.created_by,
        }
        self._loaded()
        with self._lock:  # read-modify-write of the content map, under the lock: threads add texts at once
            assert self._cached is not None
            content = {**self._cached.get("content", {}), f"{v.name}\0{v.version}\0{mark}": entry}
            self._cached, self._dirty = {**self._cached, "content": content}, True


def _production_meta(meta: Any) -> dict[str, Any]:
    """Return what a label=production PromptMeta says: that version's number, labels and config."""
    config = meta.last_config if isinstance(meta.last_config, dict) else None
    return {"versions": sorted(meta.versions), "labels": sorted(meta.labels), "config": config}


class _Meta:
    """A cached production PromptMeta, shaped as to_state reads one."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.versions, self.labels, self.last_config = raw["versions"], raw["labels"], raw["config"]
