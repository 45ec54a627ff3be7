"""Timestamps the way the server serialises them (ISO 8601, milliseconds, `Z`)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

_lock = threading.Lock()
_last = datetime.min.replace(tzinfo=UTC)


def now() -> datetime:
    """Return the current UTC time, strictly increasing across calls.

    Strictly increasing (by at least 1 ms, the server's precision) so that "latest updatedAt" and
    "createdAt desc" orderings are deterministic even when a test writes twice within a millisecond.
    """
    global _last
    with _lock:
        stamp = datetime.now(UTC)
        current = stamp.replace(microsecond=stamp.microsecond // 1000 * 1000)
        if current <= _last:
            current = _last + timedelta(milliseconds=1)
        _last = current
        return current


def iso(moment: datetime) -> str:
    """Format like JavaScript's `Date.toISOString()`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def now_iso() -> str:
    """Return `now()` formatted like `Date.toISOString()`."""
    return iso(now())


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 timestamp with offset or `Z` (raises ValueError)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
