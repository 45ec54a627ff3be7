"""The double's HTTP server: POST /v1/chat/completions as OpenAI serves it, plus the faults a test injects.

Deterministic answers with usage tokens (answers.py), an injectable latency, a per-second rate limit answered
with 429 and Retry-After, scripted failures (any status, e.g. 500 or a 429 with its own Retry-After), requests
that hang past the client's timeout, and counters a test asserts on. Errors have OpenAI's body shape, so the
SDK raises the same exception classes it raises against api.openai.com.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.openai_double.answers import answer, prompt_tokens, tokens

API_KEY = "sk-double-0123456789abcdefghij"
PATH = "/v1/chat/completions"
WINDOW_S = 1.0  # the rate limit counts accepted requests over the last second


@dataclass(frozen=True)
class Fault:
    """A scripted reply for one upcoming request: an HTTP error (status > 0) or a hang (status 0)."""

    status: int
    retry_after_s: float | None = None
    code: str | None = None
    message: str = "scripted failure"


@dataclass(frozen=True)
class Logged:
    """One request the double received and how it answered."""

    path: str
    authorization: str | None
    body: dict[str, Any]
    status: int
    at: float  # time.monotonic() when the reply was ready
    usage: tuple[int, int] = (0, 0)  # (prompt, completion) tokens of a 200


class OpenAIDouble:
    """A chat-completions server on 127.0.0.1; `with OpenAIDouble() as double:` starts and stops it."""

    def __init__(self, *, api_key: str = API_KEY, latency_s: float = 0.0, rate_limit_per_s: int | None = None) -> None:
        self.api_key = api_key
        self.latency_s = latency_s
        self.rate_limit_per_s = rate_limit_per_s
        self.hang_s = 30.0  # how long a hung request is held (stop() releases it early)
        self.requests = 0  # every POST to the completions path, refused ones included
        self.completions = 0  # answered with 200
        self.limited = 0  # answered with 429 (the rate limit or a scripted 429)
        self.in_flight = 0
        self.peak_in_flight = 0
        self.log: list[Logged] = []
        self._faults: deque[Fault] = deque()
        self._accepted: deque[float] = deque()  # monotonic times of requests inside the rate-limit window
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> OpenAIDouble:
        """Listen on a free loopback port and serve in a background thread."""
        server = _Server(("127.0.0.1", 0), _Handler)
        server.double = self
        self._server, self._stopped = server, threading.Event()
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: hung requests are released, the port is closed (later calls are refused)."""
        self._stopped.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> OpenAIDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """Return the URL to give the SDK (OPENAI_BASE_URL)."""
        assert self._server is not None, "the double is not running"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def billed(self) -> tuple[int, int]:
        """Return the (prompt, completion) tokens of every answered request: what OpenAI would bill."""
        with self._lock:
            answered = [entry.usage for entry in self.log if entry.status == 200]
        return sum(u[0] for u in answered), sum(u[1] for u in answered)

    # --- scripting -------------------------------------------------------------------------------

    def fail_next(
        self, status: int, count: int = 1, *, retry_after_s: float | None = None, code: str | None = None
    ) -> None:
        """Answer the next `count` requests with HTTP `status` (a 429 may carry its own Retry-After)."""
        with self._lock:
            self._faults.extend(Fault(status, retry_after_s, code) for _ in range(count))

    def hang_next(self, count: int = 1) -> None:
        """Hold the next `count` requests without answering, so the client's timeout fires."""
        with self._lock:
            self._faults.extend(Fault(0) for _ in range(count))

    def clear_faults(self) -> None:
        """Drop the scripted faults no request has taken yet (a request read after this is answered)."""
        with self._lock:
            self._faults.clear()

    # --- serving -----------------------------------------------------------------------------------

    def handle(self, path: str, authorization: str | None, raw: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Return (status, headers, body) for one request; sleeps for latency and hangs as scripted."""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        if path != PATH:
            return self._logged(
                path, authorization, {}, 404, {}, _error("Unknown request URL", "invalid_request_error")
            )
        if not isinstance(body, dict):
            return self._logged(
                path, authorization, {}, 400, {}, _error("We could not parse the JSON body", "invalid_request_error")
            )
        with self._lock:
            self.requests += 1
        if authorization != f"Bearer {self.api_key}":
            return self._logged(
                path,
                authorization,
                body,
                401,
                {},
                _error("Incorrect API key provided", "invalid_request_error", "invalid_api_key"),
            )
        problem = _invalid(body)
        if problem:
            return self._logged(path, authorization, body, 400, {}, _error(problem, "invalid_request_error"))
        fault, wait_s = self._admit()
        if fault is not None and fault.status == 0:
            self._stopped.wait(self.hang_s)
            return self._logged(path, authorization, body, 504, {}, _error("held until the client gave up", "timeout"))
        if fault is not None or wait_s is not None:
            status = fault.status if fault else 429
            retry = fault.retry_after_s if fault else wait_s
            headers = _retry_headers(retry) if retry is not None else {}
            code = (fault.code if fault else None) or ("rate_limit_exceeded" if status == 429 else None)
            kind = "requests" if status == 429 else "server_error" if status >= 500 else "invalid_request_error"
            message = "Rate limit reached for requests" if fault is None else fault.message
            return self._logged(path, authorization, body, status, headers, _error(message, kind, code))
        return self._answer(path, authorization, body)

    def _admit(self) -> tuple[Fault | None, float | None]:
        """Return a scripted fault, or the wait before the rate limit admits a request (None: admitted now)."""
        with self._lock:
            if self._faults:
                fault = self._faults.popleft()
                if fault.status == 429:
                    self.limited += 1
                return fault, None
            now = time.monotonic()
            while self._accepted and self._accepted[0] <= now - WINDOW_S:
                self._accepted.popleft()
            if self.rate_limit_per_s is not None and len(self._accepted) >= self.rate_limit_per_s:
                self.limited += 1
                return None, self._accepted[0] + WINDOW_S - now
            self._accepted.append(now)
            return None, None

    def _answer(
        self, path: str, authorization: str | None, body: dict[str, Any]
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self._lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if self.latency_s > 0:
                self._stopped.wait(self.latency_s)
            messages = body["messages"]
            limit = body.get("max_completion_tokens", body.get("max_tokens"))
            text = answer(messages, float(body.get("temperature", 1.0)), int(body.get("seed") or 0), limit)
            usage_in, usage_out = prompt_tokens(messages), tokens(text)
            with self._lock:
                self.completions += 1
                number = self.completions
            reply = {
                "id": f"chatcmpl-double-{number}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "system_fingerprint": "fp_double",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": usage_in,
                    "completion_tokens": usage_out,
                    "total_tokens": usage_in + usage_out,
                },
            }
            return self._logged(path, authorization, body, 200, {}, reply)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _logged(
        self, path: str, authorization: str | None, body: dict[str, Any], status: int, headers: dict[str, str],
        reply: dict[str, Any],
    ) -> tuple[int, dict[str, str], dict[str, Any]]:  # fmt: skip
        usage = reply.get("usage") or {}
        tokens = (int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))
        with self._lock:
            self.log.append(Logged(path, authorization, body, status, time.monotonic(), tokens))
        return status, headers, reply


def _invalid(body: dict[str, Any]) -> str | None:
    """Return what is wrong with a chat-completions body as OpenAI would word it, or None."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "you must provide a model parameter"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array"
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "developer"):
            return f"Invalid value for 'messages[{i}].role'"
        if not isinstance(m.get("content"), str):
            return f"Invalid type for 'messages[{i}].content': expected a string"
    return None


def _error(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _retry_headers(retry_after_s: float) -> dict[str, str]:
    # OpenAI sends both; the SDK (and promptops) prefer the millisecond one.
    return {
        "retry-after-ms": str(max(1, math.ceil(retry_after_s * 1000))),
        "retry-after": str(max(1, math.ceil(retry_after_s))),
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # 32+ clients connect at once; the default backlog of 5 would stall them
    double: OpenAIDouble


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
    disable_nagle_algorithm = True
    server: _Server

    def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches to
        """Answer one request through the double."""
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, headers, body = self.server.double.handle(self.path, self.headers.get("Authorization"), raw)
        payload = json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        """Keep test output clean."""
