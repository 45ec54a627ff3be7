"""Deterministic fault injection: latency and per-request failure rules, all driven by one seeded RNG."""

from __future__ import annotations

import dataclasses
import fnmatch
import random
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any


@dataclass
class FaultRule:
    """Fail the next `times` requests matching METHOD + path glob.

    `after_write=False` answers `status` before the request is applied (a 429/500/503 the SDK may retry
    safely). `after_write=True` applies the write first and then answers `status`, or drops the
    connection without any answer when `status` is None: the "write applied, response lost" case.
    """

    method: str  # "POST", or "*" for any
    path: str  # fnmatch glob on the raw (still %-encoded) path, e.g. "/api/public/v2/prompts*"
    status: int | None = 500
    after_write: bool = False
    times: int = 1
    retry_after: int | None = None  # seconds; 429 defaults to 1
    probability: float = 1.0  # chance (from the seeded RNG) that a matching request is hit
    body: Any = None  # overrides the default error body

    def matches(self, method: str, path: str) -> bool:
        """Tell whether this rule applies to the request."""
        return self.times > 0 and self.method in ("*", method) and fnmatch.fnmatchcase(path, self.path)

    def describe(self) -> str:
        """Summarise the fault for the request log."""
        outcome = "dropped connection" if self.status is None else f"status {self.status}"
        return f"{outcome} {'after' if self.after_write else 'before'} write"


def _js_date_string(moment: datetime) -> str:
    # The server sends X-RateLimit-Reset as JavaScript's Date.toString(), which the SDK cannot parse.
    return moment.strftime("%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)")


def _rate_limited(rule: FaultRule) -> tuple[Any, dict[str, str]]:
    seconds = rule.retry_after if rule.retry_after is not None else 1
    reset = datetime.now(UTC) + timedelta(seconds=seconds)
    details = {"retryAfterSeconds": seconds, "limit": 1000, "remaining": 0, "resetAt": reset.isoformat()}
    headers = {
        "Retry-After": str(seconds),
        "X-RateLimit-Limit": "1000",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": _js_date_string(reset),
    }
    return {"message": "Rate limit exceeded", "code": "rate_limited", "details": details}, headers


def fault_reply(rule: FaultRule) -> tuple[int, Any, dict[str, str]]:
    """Return (status, body, headers) for a rule that answers."""
    status = rule.status or 500
    body: Any
    if status == 429:
        body, headers = _rate_limited(rule)
    else:
        headers = {"Retry-After": str(rule.retry_after)} if rule.retry_after is not None else {}
        defaults = {503: {"message": "Service Unavailable"}}
        body = defaults.get(status, {"message": "Internal Server Error", "error": "Injected fault"})
    return status, rule.body if rule.body is not None else body, headers


class FaultPlan:
    """Latency plus an ordered list of rules; the first live matching rule wins."""

    def __init__(self, seed: int = 0, latency: float = 0.0, jitter: float = 0.0) -> None:
        self.latency = latency
        self.jitter = jitter
        self._rng = random.Random(seed)
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(self, rule: FaultRule) -> FaultRule:
        """Register a rule (it is consumed as matching requests arrive)."""
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Drop every rule."""
        with self._lock:
            self._rules.clear()

    def delay(self) -> float:
        """Return the latency to apply to the next request."""
        with self._lock:
            return self.latency + (self._rng.uniform(0, self.jitter) if self.jitter else 0.0)

    def take(self, method: str, path: str, *, after_write: bool) -> FaultRule | None:
        """Consume and return the before-write (or after-write) rule hitting this request, if any.

        After-write rules are only consulted once the write succeeded, so a request the server
        rejects does not use one up.
        """
        with self._lock:
            for rule in self._rules:
                if rule.after_write is not after_write or not rule.matches(method, path):
                    continue
                if self._rng.random() < rule.probability:
                    rule.times -= 1
                    return dataclasses.replace(rule)
            return None

    def pending(self) -> list[FaultRule]:
        """Return the rules that still have requests to hit."""
        with self._lock:
            return [dataclasses.replace(r) for r in self._rules if r.times > 0]
