"""How the Langfuse registry calls the SDK: our own retries, and failures turned into one-line RegistryErrors.

Every SDK call is made with the SDK's HTTP retries switched off (`max_retries=0`), so this module alone decides
what is retried: 429 (honouring Retry-After), 408 and 5xx, timeouts and dropped connections. Writes that are
not idempotent (creating a version) are never handed to `call`'s retry loop: the registry re-reads first.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from promptops.errors import RegistryAuthError, RegistryError

T = TypeVar("T")
NO_SDK_RETRIES: dict[str, Any] = {"max_retries": 0}
MAX_ATTEMPTS = 4
BASE_DELAY_S = 0.5
MAX_DELAY_S = 8.0
MAX_RETRY_AFTER_S = 60.0
RETRIED_STATUSES = (408, 429)  # not 409: Langfuse answers it for real conflicts (item ids), not load


@dataclass(frozen=True)
class Failure:
    """What went wrong with one request: whether trying again can help, how long to wait, and what to say."""

    retriable: bool
    message: str
    status: int | None = None
    retry_after: float | None = None


def status_of(exc: BaseException) -> int | None:
    """Return the HTTP status of an SDK ApiError (None for transport errors)."""
    from langfuse.api.core.api_error import ApiError

    return exc.status_code if isinstance(exc, ApiError) else None


def server_message(exc: BaseException) -> str:
    """Return the server's `message` from an error body, kept to one line; '' when there is none."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error")
        issues = [i for i in error[:3] if isinstance(i, dict)] if isinstance(error, list) else []
        # A zod 400 says only "Invalid request data"; its issues say which field and why.
        details = "; ".join(f"{'.'.join(map(str, i.get('path', [])))}: {i.get('message')}" for i in issues)
        text = f"{body.get('message') or body.get('error') or ''}" + (f" ({details})" if details else "")
        return " ".join(text.split())[:300]
    if isinstance(body, str) and "<html" in body.lower():
        return "an HTML page, not a Langfuse API answer"
    return " ".join(str(body or "").split())[:300]


def _retry_after(exc: BaseException) -> float | None:
    headers = {k.lower(): v for k, v in (getattr(exc, "headers", None) or {}).items()}
    try:
        return max(0.0, float(headers["retry-after"]))
    except (KeyError, TypeError, ValueError):
        return None


def classify(exc: BaseException, host: str, doing: str, timeout: float) -> Failure:
    """Sort an exception raised by an SDK call into retriable or final, with the message the user sees."""
    import httpx
    import pydantic
    from langfuse.api.core.api_error import ApiError

    where = f"Langfuse at {host}"
    if isinstance(exc, httpx.TimeoutException):
        return Failure(True, f"{where} did not answer within {timeout:g} s while {doing} (raise LANGFUSE_TIMEOUT?)")
    if isinstance(exc, httpx.ConnectError):
        return Failure(False, f"cannot connect to {where} while {doing}: check LANGFUSE_BASE_URL and the network")
    if isinstance(exc, httpx.TransportError):
        return Failure(True, f"the connection to {where} broke while {doing} ({type(exc).__name__})")
    if isinstance(exc, pydantic.ValidationError):
        return Failure(False, f"{where} sent an answer promptops cannot read while {doing}: check LANGFUSE_BASE_URL")
    if not isinstance(exc, ApiError):
        raise exc  # not a request failure: a bug, for the CLI's crash log
    status = exc.status_code or 0
    if status == 401:
        return Failure(
            False,
            f"{where} rejected the API keys (401) while {doing}: check LANGFUSE_PUBLIC_KEY and "
            "LANGFUSE_SECRET_KEY, and that LANGFUSE_BASE_URL is the host of their project",
            401,
        )
    if status == 403:
        return Failure(
            False,
            f"{where} refused access (403) while {doing}: use a project's API keys (not an "
            "organization key) with LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY",
            403,
        )
    retriable = status >= 500 or status in RETRIED_STATUSES
    detail = server_message(exc) or "no message"
    hint = " (check that LANGFUSE_BASE_URL is the Langfuse host)" if status == 404 else ""
    return Failure(retriable, f"{where} answered {status} while {doing}: {detail}{hint}", status, _retry_after(exc))


def backoff(attempt: int) -> float:
    """Return the wait before retry number `attempt` (0-based): exponential with jitter, capped."""
    return min(MAX_DELAY_S, BASE_DELAY_S * 2**attempt) * (0.75 + random.random() / 2)


def wait_for(failure: Failure, attempt: int) -> float:
    """Return how long to wait before retrying after `failure`: Retry-After when the server sent one."""
    if failure.retry_after is not None:
        return min(failure.retry_after, MAX_RETRY_AFTER_S)
    return backoff(attempt)


class Caller:
    """Calls the SDK with retries for reads and idempotent writes, and raises RegistryError one-liners."""

    def __init__(
        self, host: str, timeout: float, sleep: Callable[[float], None], host_variable: str = "LANGFUSE_BASE_URL"
    ) -> None:
        self.host = host
        self.timeout = timeout
        self.sleep = sleep
        self.host_variable = host_variable  # the variable the host came from, so messages name the one you set

    def failure(self, exc: BaseException, doing: str) -> Failure:
        """Classify an exception raised while `doing` something."""
        failure = classify(exc, self.host, doing, self.timeout)
        if self.host_variable == "LANGFUSE_BASE_URL":
            return failure
        return replace(failure, message=failure.message.replace("LANGFUSE_BASE_URL", self.host_variable))

    def call(self, doing: str, fn: Callable[[], T], *, passthrough: tuple[int, ...] = ()) -> T:
        """Run `fn`, retrying retriable failures; ApiErrors with a status in `passthrough` reach the caller."""
        for attempt in range(MAX_ATTEMPTS):
            try:
                return fn()
            except Exception as exc:  # classify() re-raises anything that is not a request failure
                if status_of(exc) in passthrough:
                    raise
                failure = self.failure(exc, doing)
                if failure.status in (401, 403):
                    raise RegistryAuthError(failure.message) from None
                if not failure.retriable or attempt == MAX_ATTEMPTS - 1:
                    raise RegistryError(failure.message) from None
                self.sleep(wait_for(failure, attempt))
        raise AssertionError("unreachable")
