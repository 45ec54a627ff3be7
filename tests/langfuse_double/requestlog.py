"""The log of every request the double received, for exact assertions in tests."""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import dataclass, field
from typing import Any

WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")


@dataclass(frozen=True)
class LoggedRequest:
    """One request and how the double answered it."""

    method: str
    path: str  # raw, still %-encoded
    query: dict[str, list[str]]
    body: Any  # decoded JSON; raw bytes for non-JSON bodies (OTLP protobuf); None when empty
    status: int | None  # None when the connection was dropped without an answer
    operation: str | None  # contract key, e.g. "POST /api/public/v2/prompts"; None for unknown routes
    fault: str | None = None  # the injected fault, if any
    headers: dict[str, str] = field(default_factory=dict)  # request headers, lower-cased names

    @property
    def is_write(self) -> bool:
        """Tell whether the method writes (POST/PATCH/PUT/DELETE)."""
        return self.method in WRITE_METHODS


class RequestLog:
    """Thread-safe, append-only list of LoggedRequest."""

    def __init__(self) -> None:
        self._entries: list[LoggedRequest] = []
        self._lock = threading.Lock()

    def append(self, entry: LoggedRequest) -> None:
        """Record a request (done before the reply is written, so the client never outruns the log)."""
        with self._lock:
            self._entries.append(entry)

    def clear(self) -> None:
        """Forget everything logged so far."""
        with self._lock:
            self._entries.clear()

    def entries(self, method: str | None = None, path: str | None = None) -> list[LoggedRequest]:
        """Return requests, optionally filtered by method and fnmatch glob on the raw path."""
        with self._lock:
            snapshot = list(self._entries)
        return [
            e
            for e in snapshot
            if (method is None or e.method == method) and (path is None or fnmatch.fnmatchcase(e.path, path))
        ]

    def count_writes(self, path: str | None = None) -> int:
        """Count POST/PATCH/PUT/DELETE requests, optionally only those whose raw path matches the glob."""
        return sum(1 for e in self.entries(path=path) if e.is_write)
