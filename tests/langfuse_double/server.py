"""LangfuseDouble: start the loopback server, build SDK clients, inject faults, read back state."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from tests.langfuse_double.auth import Keys
from tests.langfuse_double.contract import Contract, Violation
from tests.langfuse_double.engine import Engine
from tests.langfuse_double.faults import FaultPlan, FaultRule
from tests.langfuse_double.http_server import DoubleHTTPServer
from tests.langfuse_double.requestlog import LoggedRequest, RequestLog
from tests.langfuse_double.spans import Span
from tests.langfuse_double.store import Store


class LangfuseDouble:
    """A faithful Langfuse 4.16 server on 127.0.0.1 with a random port. Use as a context manager.

    Keys are unique per instance because the SDK keeps one client per public key per process.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        jitter: float = 0.0,
        seed: int = 0,
        public_key: str | None = None,
        secret_key: str | None = None,
        project_name: str = "promptops-test",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        suffix = uuid.uuid4().hex
        self.public_key = public_key or f"pk-lf-test-{suffix}"
        self.secret_key = secret_key or f"sk-lf-test-{suffix}"
        self.project_id = f"project-{suffix[:12]}"
        self.store = Store(self.project_id, project_name)
        self.faults = FaultPlan(seed=seed, latency=latency, jitter=jitter)
        self.log = RequestLog()
        self.engine = Engine(self.store, Keys(self.public_key, self.secret_key), self.faults, self.log, Contract.load())
        self._address = (host, port)
        self._server: DoubleHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._clients: list[Any] = []

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> LangfuseDouble:
        """Bind and serve in a background thread."""
        self._server = DoubleHTTPServer(self._address, self.engine)
        # A short poll interval keeps stop() (and so every test's teardown) fast.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="langfuse-double", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut SDK clients down (flushing while the server still answers), then the server."""
        for client in self._clients:
            client.shutdown()
        self._clients.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LangfuseDouble:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """Return e.g. http://127.0.0.1:54321 (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("LangfuseDouble is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def env(self) -> dict[str, str]:
        """Return the environment variables that point the SDK (and promptops) at this double."""
        return {
            "LANGFUSE_PUBLIC_KEY": self.public_key,
            "LANGFUSE_SECRET_KEY": self.secret_key,
            "LANGFUSE_BASE_URL": self.base_url,
        }

    def client(self, **overrides: Any) -> Any:
        """Build a real langfuse.Langfuse for this double, flushing quickly; shut down by `stop()`."""
        from langfuse import Langfuse  # imported here so the double itself starts without the SDK

        options: dict[str, Any] = {
            "public_key": self.public_key,
            "secret_key": self.secret_key,
            "base_url": self.base_url,
            "flush_at": 10,
            "flush_interval": 0.1,
            "timeout": 5,
            **overrides,
        }
        client = Langfuse(**options)
        self._clients.append(client)
        return client

    # -- fault injection -----------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path: str,
        status: int = 500,
        *,
        times: int = 1,
        retry_after: int | None = None,
        probability: float = 1.0,
        body: Any = None,
    ) -> FaultRule:
        """Answer `status` (e.g. 429/500/503) to the next `times` matching requests, without applying them."""
        return self.faults.add(FaultRule(method, path, status, False, times, retry_after, probability, body))

    def lose_response(
        self, method: str, path: str, *, status: int | None = None, times: int = 1, probability: float = 1.0
    ) -> FaultRule:
        """Apply the next matching writes, then drop the connection (status None) or answer `status`."""
        return self.faults.add(FaultRule(method, path, status, True, times, None, probability))

    def set_latency(self, seconds: float, jitter: float = 0.0) -> None:
        """Delay every request by `seconds` plus up to `jitter` (seeded)."""
        self.faults.latency, self.faults.jitter = seconds, jitter

    # -- contract violations -------------------------------------------------------------------

    @property
    def violations(self) -> list[Violation]:
        """Return the violations recorded so far (bad request bodies, unknown routes, bad replies)."""
        return list(self.engine.violations)

    def take_violations(self) -> list[Violation]:
        """Return and clear the violations, for tests that provoke them on purpose."""
        return self.engine.take_violations()

    def assert_no_violations(self) -> None:
        """Fail with every recorded violation listed."""
        found = self.violations
        assert not found, "Langfuse contract violations:\n" + "\n".join(f"  {v}" for v in found)

    # -- readers -------------------------------------------------------------------------------

    def prompts(self, name: str) -> list[dict[str, Any]]:
        """Return every stored version of `name` as raw rows, lowest version first."""
        with self.store.lock:
            return [v.row() for v in self.store.prompts.versions_of(name)]

    def prompt_names(self) -> list[str]:
        """Return every prompt name, sorted."""
        with self.store.lock:
            return self.store.prompts.names()

    def spans(self, trace_id: str | None = None, name: str | None = None) -> list[Span]:
        """Return received spans in arrival order, optionally filtered."""
        with self.store.lock:
            return self.store.spans.all(trace_id, name)

    def span(self, span_id: str) -> Span | None:
        """Return the span with that id."""
        with self.store.lock:
            return self.store.spans.by_id(span_id)

    def children(self, span_id: str) -> list[Span]:
        """Return the spans whose parent is `span_id`."""
        with self.store.lock:
            return self.store.spans.children(span_id)

    def scores(self) -> list[dict[str, Any]]:
        """Return stored scores in write order."""
        with self.store.lock:
            return self.store.scores.all()

    def datasets(self) -> list[dict[str, Any]]:
        """Return every dataset, oldest first."""
        with self.store.lock:
            return self.store.datasets.datasets()

    def dataset_items(self, dataset_name: str, *, include_archived: bool = False) -> list[dict[str, Any]]:
        """Return a dataset's current items, oldest first."""
        with self.store.lock:
            return self.store.datasets.items_of(dataset_name, include_archived)

    def requests(self, method: str | None = None, path: str | None = None) -> list[LoggedRequest]:
        """Return logged requests, optionally by method and fnmatch glob on the raw path."""
        return self.log.entries(method, path)

    def count_writes(self, path: str | None = None) -> int:
        """Count POST/PATCH/PUT/DELETE requests, optionally matching a raw-path glob."""
        return self.log.count_writes(path)
