"""The request pipeline: latency, routing, auth, faults, contract checks, dispatch and logging."""

from __future__ import annotations

import gzip
import json
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.langfuse_double import routes
from tests.langfuse_double.auth import Keys, authorize
from tests.langfuse_double.contract import Contract, Violation
from tests.langfuse_double.errors import ApiFailure, internal_error, invalid_request_data, method_not_allowed
from tests.langfuse_double.faults import FaultPlan, fault_reply
from tests.langfuse_double.requestlog import LoggedRequest, RequestLog
from tests.langfuse_double.store import Store
from tests.langfuse_double.wire import Call, Reply

# What Next.js serves for a path no API route matches (e.g. a folder name with an unencoded "/").
NOT_FOUND_PAGE = "<!DOCTYPE html><html><body><h1>404</h1><h2>This page could not be found.</h2></body></html>"


@dataclass(frozen=True)
class Incoming:
    """A raw HTTP request as read off the socket."""

    method: str
    target: str  # path plus query, still %-encoded
    headers: dict[str, str]  # lower-cased names
    body: bytes


@dataclass
class _Progress:
    """What the log needs to know about a request, filled in as the pipeline advances."""

    operation: str | None = None
    body: Any = None
    fault: str | None = None


class Engine:
    """Turns an Incoming request into a Reply (or None: drop the connection without answering)."""

    def __init__(self, store: Store, keys: Keys, faults: FaultPlan, log: RequestLog, contract: Contract) -> None:
        self.store = store
        self.keys = keys
        self.faults = faults
        self.log = log
        self.contract = contract
        self.violations: list[Violation] = []
        self._violations_lock = threading.Lock()

    def handle(self, incoming: Incoming) -> Reply | None:
        """Serve one request and log it before the reply goes out."""
        delay = self.faults.delay()
        if delay:
            time.sleep(delay)
        split = urlsplit(incoming.target)
        query = parse_qs(split.query, keep_blank_values=True)
        progress = _Progress()
        reply: Reply | None
        try:
            reply = self._process(incoming, split.path, query, progress)
        except ApiFailure as failure:
            reply = Reply(failure.status, failure.body, failure.headers)
        except Exception as error:  # a bug in the double must fail the test, not pass as a 500
            self._violate("double", incoming, split.path, progress.operation, [repr(error)])
            crash = internal_error(str(error))
            reply = Reply(crash.status, crash.body)
        status = None if reply is None else reply.status
        self.log.append(
            LoggedRequest(
                incoming.method,
                split.path,
                query,
                progress.body,
                status,
                progress.operation,
                progress.fault,
                incoming.headers,
            )
        )
        return reply

    def _process(self, incoming: Incoming, path: str, query: dict[str, list[str]], progress: _Progress) -> Reply | None:
        try:
            found = routes.match(incoming.method, path)
        except routes.MethodNotAllowed:
            raise method_not_allowed() from None
        if found is None:
            self._violate("route", incoming, path, None, ["no such route in the Langfuse public API"])
            return Reply(404, NOT_FOUND_PAGE, content_type="text/html")
        route, params = found
        progress.operation = route.operation
        authorize(route.auth, incoming.headers.get("authorization"), incoming.method, self.keys)
        rule = self.faults.take(incoming.method, path, after_write=False)
        if rule is not None:
            progress.fault = rule.describe()
            return Reply(*fault_reply(rule))
        body = self._checked_body(route, incoming, path, progress)
        call = Call(params, {key: values[0] for key, values in query.items()}, body, incoming.body, incoming.headers)
        with self.store.lock:
            reply = route.handler(self.store, call)
        problems = self.contract.response_problems(route.operation, reply.status, reply.body)
        if problems:
            self._violate("response", incoming, path, route.operation, problems, reply.body)
        return self._after_write(incoming, path, reply, progress)

    def _after_write(self, incoming: Incoming, path: str, reply: Reply, progress: _Progress) -> Reply | None:
        if not 200 <= reply.status < 300:
            return reply
        rule = self.faults.take(incoming.method, path, after_write=True)
        if rule is None:
            return reply
        progress.fault = rule.describe()
        return None if rule.status is None else Reply(*fault_reply(rule))

    def _checked_body(self, route: routes.Route, incoming: Incoming, path: str, progress: _Progress) -> Any:
        """Decode the JSON body and validate it against the contract; raise the zod-style 400 if it breaks it."""
        if route.raw_body:
            progress.body = incoming.body
            body = self._otlp_json(incoming)
            if body is None:
                return None
        elif not incoming.body:
            body = None
        else:
            try:
                body = json.loads(incoming.body)
            except ValueError as error:
                self._violate("request", incoming, path, route.operation, [f"body is not JSON: {error}"])
                raise ApiFailure(400, {"message": "Invalid JSON body"}) from error
        if not route.raw_body:
            progress.body = body
        issues = self.contract.request_issues(route.operation, body)
        if issues:
            problems = [f"{'/'.join(map(str, i['path'])) or '<root>'}: {i['message']}" for i in issues]
            self._violate("request", incoming, path, route.operation, problems, body)
            raise invalid_request_data(issues)
        return None if route.raw_body else body

    def _otlp_json(self, incoming: Incoming) -> Any:
        """Return the decoded OTLP/JSON body for contract checks; None for protobuf or undecodable bodies."""
        if not incoming.headers.get("content-type", "").startswith("application/json"):
            return None
        raw = incoming.body
        try:
            if incoming.headers.get("content-encoding", "").lower() == "gzip":
                raw = gzip.decompress(raw)
            return json.loads(raw)
        except (OSError, EOFError, ValueError):
            return None  # the handler answers the decoding error itself

    def _violate(
        self, kind: str, incoming: Incoming, path: str, operation: str | None, problems: list[str], body: Any = None
    ) -> None:
        with self._violations_lock:
            self.violations.append(Violation(kind, incoming.method, path, operation, tuple(problems), body))

    def take_violations(self) -> list[Violation]:
        """Return and forget the recorded violations."""
        with self._violations_lock:
            taken, self.violations = self.violations, []
        return taken
