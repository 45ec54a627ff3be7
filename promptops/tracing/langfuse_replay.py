"""The tracing worker process: replays item records through the SDK with the loop's ids and timestamps.

Run as `python -m promptops.tracing.langfuse_replay` by tracing/langfuse_worker.py. Each item goes through
tracing/langfuse_sdk.py, the same calls the in-process tracer makes, so spans, propagated attributes, prompt
links and scores come out as they would there. Two things are steered from outside the SDK's API: the span
ids (an OpenTelemetry IdGenerator handing out the recorded ones) and the clock. The SDK starts and ends its
spans without explicit times, so OpenTelemetry's `time_ns` is pointed at the recorded time while an item is
replayed, and at the real clock otherwise (this is the worker's own process: nothing else runs spans here).
An exception that crossed a span on the loop is raised again here under the same class name with its
redacted message, so OpenTelemetry records it as it did in process (its stack trace is the replay's).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

from promptops.tracing.langfuse_sdk import PromptSpec, SdkItem, prompt_client, sdk_item
from promptops.tracing.langfuse_worker import read_frame, write_frame


class RecordedIds(RandomIdGenerator):
    """Hands out the next recorded trace or span id once, random ones otherwise."""

    def __init__(self) -> None:
        self.trace_id: int | None = None
        self.span_id: int | None = None

    def generate_trace_id(self) -> int:
        """Return the recorded trace id, once."""
        value, self.trace_id = self.trace_id, None
        return value if value is not None else super().generate_trace_id()

    def generate_span_id(self) -> int:
        """Return the recorded span id, once."""
        value, self.span_id = self.span_id, None
        return value if value is not None else super().generate_span_id()


class ReplayClock:
    """OpenTelemetry's clock: the recorded time while replaying, the real one otherwise."""

    def __init__(self) -> None:
        self.now: int | None = None

    def __call__(self) -> int:
        return self.now if self.now is not None else time.time_ns()


@dataclass
class _Node:
    span_id: str
    start: int
    end: int = 0
    opened: tuple[Any, ...] = ()
    updates: list[dict[str, Any]] = field(default_factory=list)
    children: list[_Node] = field(default_factory=list)
    scores: list[tuple[Any, ...]] = field(default_factory=list)
    error: tuple[Any, ...] | None = None


class _Raised(Exception):
    """Stands in for an exception that crossed a span on the loop."""


def _stand_in(module: str, qualname: str, name: str, message: str) -> _Raised:
    kind = type(name, (_Raised,), {"__qualname__": qualname, "__module__": module})
    return cast(_Raised, kind(message))


def _tree(root_id: str, start: int, end: int, events: list[tuple[Any, ...]]) -> _Node:
    root = _Node(root_id, start, end)
    nodes = {root_id: root}
    for event in events:
        kind = event[0]
        if kind == "open":
            node = _Node(event[1], event[6], opened=event)
            nodes[event[1]] = node
            nodes.get(event[2], root).children.append(node)
        elif kind == "update":
            nodes[event[1]].updates.append(event[2])
        elif kind == "error":
            nodes[event[1]].error = event
        elif kind == "close":
            nodes[event[1]].end = event[2]
        elif kind == "score":
            root.scores.append(event)
    return root


class Replayer:
    """Replays item records and run scores through one client."""

    def __init__(self, client: Any, ids: RecordedIds, clock: ReplayClock) -> None:
        self.client, self.ids, self.clock = client, ids, clock
        self.failures = 0
        self._prompts: dict[str, Any] = {}

    def item(self, record: tuple[Any, ...]) -> None:
        """Replay one item's trace."""
        trace_id, root_id, parts, start, end, events = record
        root = _tree(root_id, start, end, events)
        self.ids.trace_id, self.ids.span_id, self.clock.now = int(trace_id, 16), int(root_id, 16), start
        try:
            with sdk_item(self.client, parts) as item:
                self._body(item, item.root, root)
        except _Raised:
            pass  # recorded by OpenTelemetry on the way out, as on the loop
        finally:
            self.clock.now = None

    def _replay(self, item: SdkItem, node: _Node) -> None:
        _, span_id, _, name, as_type, fields, start, spec = node.opened
        if spec is not None:
            fields = {**fields, "prompt": self._prompt(spec)}
        self.ids.span_id, self.clock.now = int(span_id, 16), start
        try:
            with item.observe(name, as_type, fields) as observation:
                self._body(item, observation, node)
        except _Raised:
            pass

    def _body(self, item: SdkItem, observation: Any, node: _Node) -> None:
        for fields in node.updates:
            observation.update(**fields)
        for child in node.children:
            self._replay(item, child)
        for _, name, value, data_type, comment, ns in node.scores:
            stamp = datetime.fromtimestamp(ns / 1e9, tz=UTC)
            observation.score(name=name, value=value, data_type=data_type, comment=comment, timestamp=stamp)
        self.clock.now = node.end
        if node.error is not None:
            _, _, status_message, raised = node.error
            observation.update(level="ERROR", status_message=status_message)
            if raised is not None:
                raise _stand_in(*raised)

    def _prompt(self, spec: PromptSpec) -> Any:
        key = repr(spec)  # lists and dicts inside: not hashable
        if key not in self._prompts:
            self._prompts[key] = prompt_client(spec)
        return self._prompts[key]

    def run_scores(self, run_id: str, scores: list[tuple[str, float]]) -> None:
        """Attach a run's aggregates as run-level scores."""
        for name, value in scores:
            self.client.create_score(dataset_run_id=run_id, name=name, value=value, data_type="NUMERIC")


def _client(settings: dict[str, Any], ids: RecordedIds) -> Any:
    from langfuse import Langfuse

    options = {key: value for key, value in settings.items() if value is not None}
    return Langfuse(**options, id_generator=ids)  # no mask: the loop masked every value before sending it


def _serve(stdin: Any, stdout: Any, replayer: Replayer, log: Callable[[str], None]) -> None:
    while (batch := read_frame(stdin)) is not None:
        for message in batch:
            kind = message[0]
            try:
                if kind == "item":
                    replayer.item(message[1])
                elif kind == "run_scores":
                    replayer.run_scores(message[1], message[2])
            except Exception as exc:  # one bad record costs its own trace, not the worker
                replayer.failures += 1
                log(f"promptops tracing worker: could not replay an item: {type(exc).__name__}")
            if kind == "flush":
                replayer.client.flush()
                write_frame(stdout, ("flushed", message[1], replayer.failures))


def main() -> None:
    """Read the settings, then replay batches until stdin closes; deliver everything before exiting."""
    import opentelemetry.sdk.trace as otel_sdk_trace

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run decides what Ctrl-C means; we deliver what we got
    stdin = sys.stdin.buffer
    stdout = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints must not corrupt the frames

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    settings = read_frame(stdin)
    if settings is None:
        return
    clock, ids = ReplayClock(), RecordedIds()
    otel_sdk_trace.time_ns = clock  # type: ignore[attr-defined]  # see the module docstring
    try:
        client = _client(settings, ids)
        _serve(stdin, stdout, Replayer(client, ids, clock), log)
        client.shutdown()
    except Exception as exc:  # the run reports the lost traces; a traceback here would only add noise
        log(f"promptops tracing worker stopped: {type(exc).__name__}")
        sys.exit(1)


if __name__ == "__main__":
    main()
