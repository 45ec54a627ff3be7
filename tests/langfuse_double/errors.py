"""Error replies shaped exactly like the Langfuse server's (REFERENCE §1.5)."""

from __future__ import annotations

from typing import Any

JSON = Any  # a decoded JSON value


class ApiFailure(Exception):
    """An HTTP error reply: raised anywhere in the double, turned into a response by the server."""

    def __init__(self, status: int, body: JSON, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def issue(code: str, path: list[str | int], message: str, **extra: JSON) -> dict[str, JSON]:
    """Build one zod-style issue as the server's zod v4 schemas report it."""
    return {"code": code, **extra, "path": path, "message": message}


def invalid_request_data(issues: list[dict[str, JSON]]) -> ApiFailure:
    """Zod validation failure of a query or body: 400 with the issue list under `error`."""
    return ApiFailure(400, {"message": "Invalid request data", "error": issues})


def _typed(status: int, error: str, message: str) -> ApiFailure:
    return ApiFailure(status, {"message": message, "error": error})


def invalid_request(message: str) -> ApiFailure:
    """A thrown InvalidRequestError (400)."""
    return _typed(400, "InvalidRequestError", message)


def not_found(message: str) -> ApiFailure:
    """A thrown LangfuseNotFoundError (404)."""
    return _typed(404, "LangfuseNotFoundError", message)


def conflict(message: str) -> ApiFailure:
    """A thrown LangfuseConflictError (409)."""
    return _typed(409, "LangfuseConflictError", message)


def method_not_allowed() -> ApiFailure:
    """What withMiddlewares answers for a method the route does not define."""
    return _typed(405, "MethodNotAllowedError", "Method not allowed")


def internal_error(message: str) -> ApiFailure:
    """An unexpected exception, as withMiddlewares reports it."""
    return ApiFailure(500, {"message": "Internal Server Error", "error": message})


def too_small_string(path: list[str | int], minimum: int, message: str | None = None) -> dict[str, JSON]:
    """Zod v4 `.min(n)` on a string."""
    text = message or f"Too small: expected string to have >={minimum} characters"
    return issue("too_small", path, text, origin="string", minimum=minimum, inclusive=True)


def too_big_string(path: list[str | int], maximum: int) -> dict[str, JSON]:
    """Zod v4 `.max(n)` on a string."""
    text = f"Too big: expected string to have <={maximum} characters"
    return issue("too_big", path, text, origin="string", maximum=maximum, inclusive=True)


def regex_mismatch(path: list[str | int], pattern: str, message: str) -> dict[str, JSON]:
    """Zod v4 `.regex(re, message)`."""
    return issue("invalid_format", path, message, origin="string", format="regex", pattern=pattern)
