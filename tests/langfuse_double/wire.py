"""What handlers receive and return, and zod-like coercion of query parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.langfuse_double import clock
from tests.langfuse_double.errors import JSON, invalid_request_data, issue


@dataclass(frozen=True)
class Call:
    """A routed, authenticated request."""

    params: dict[str, str]  # path parameters, %-decoded once (as Next.js does)
    query: dict[str, str]  # first value of each query parameter
    body: Any  # decoded JSON (None for routes that take raw bodies)
    raw_body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names


@dataclass(frozen=True)
class Reply:
    """A response: JSON body, or no body when `body` is None."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"  # anything else sends `body` as text


class QueryReader:
    """Read query parameters with zod v4 coercion semantics, collecting every issue before failing."""

    def __init__(self, query: dict[str, str]) -> None:
        self._query = query
        self._issues: list[dict[str, JSON]] = []

    def text(self, key: str) -> str | None:
        """Return the raw string, treating an empty value as absent (as the handlers' truthiness checks do)."""
        return self._query.get(key) or None

    def integer(
        self, key: str, default: int | None = None, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        """Coerce like `z.coerce.number().int().min().max()`."""
        raw = self._query.get(key)
        if raw is None:
            return default
        try:
            number = float(raw.strip() or "0")  # JS Number("") is 0
        except ValueError:
            self._issues.append(
                issue(
                    "invalid_type",
                    [key],
                    "Invalid input: expected number, received NaN",
                    expected="number",
                    received="NaN",
                )
            )
            return default
        if not number.is_integer():
            self._issues.append(
                issue(
                    "invalid_type",
                    [key],
                    "Invalid input: expected int, received number",
                    expected="int",
                    format="safeint",
                )
            )
            return default
        if minimum is not None and number < minimum:
            self._issues.append(
                issue(
                    "too_small",
                    [key],
                    f"Too small: expected number to be >={minimum}",
                    origin="number",
                    minimum=minimum,
                    inclusive=True,
                )
            )
        if maximum is not None and number > maximum:
            self._issues.append(
                issue(
                    "too_big",
                    [key],
                    f"Too big: expected number to be <={maximum}",
                    origin="number",
                    maximum=maximum,
                    inclusive=True,
                )
            )
        return int(number)

    def timestamp(self, key: str) -> datetime | None:
        """Parse an ISO 8601 datetime with offset, like `z.string().datetime({offset: true})`."""
        raw = self._query.get(key)
        if raw is None:
            return None
        try:
            return clock.parse_iso(raw)
        except ValueError:
            self._issues.append(issue("invalid_format", [key], "Invalid ISO datetime", format="datetime"))
            return None

    def boolean(self, key: str, default: bool) -> bool:
        """Read "true"/"false"."""
        raw = self._query.get(key)
        if raw is None:
            return default
        if raw not in ("true", "false"):
            self._issues.append(
                issue(
                    "invalid_value", [key], 'Invalid option: expected one of "true"|"false"', values=["true", "false"]
                )
            )
            return default
        return raw == "true"

    def finish(self) -> None:
        """Raise the zod 400 if any parameter was invalid."""
        if self._issues:
            raise invalid_request_data(self._issues)
