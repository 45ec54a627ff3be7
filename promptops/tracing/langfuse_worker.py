"""The tracing worker seen from the run: a child process fed item records over a pipe, and its flush.

The child (tracing/langfuse_replay.py) gets the client's settings as its first message on stdin, never in
argv or the environment; it runs in a session of its own, so a Ctrl-C reaches only the run, which then
flushes or closes as usual. A sender thread pickles and writes batches, so the loop only puts records on a
queue (bounded: a worker that falls far behind slows the run instead of filling memory). If the child dies,
the run goes on; flush reports how many items' traces were lost, as a warning, and never hangs.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import logging
import os
import pickle
import queue
import select
import struct
import subprocess
import sys
import threading
import weakref
from pathlib import Path
from typing import IO, Any

from langfuse import Langfuse

logger = logging.getLogger("promptops.tracing")
OUTBOX_MESSAGES = 10_000  # item records waiting for the sender thread; more blocks the run until it catches up
BATCH_MESSAGES = 256
_HEADER = struct.Struct(">I")
_NOT_TRANSFERABLE = ("mask_otel_spans", "should_export_span", "span_exporter", "_custom_httpx_client", "skills")


def write_frame(stream: IO[bytes], message: Any) -> None:
    """Write one length-prefixed pickle."""
    write_payload(stream, pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


def write_payload(stream: IO[bytes], payload: bytes) -> None:
    """Write one already pickled message, length-prefixed (all of it: a signal can cut a pipe write short)."""
    data = memoryview(_HEADER.pack(len(payload)) + payload)
    while data:
        data = data[stream.write(data) or 0 :]
    stream.flush()


def _plain(value: Any) -> Any:
    """Return `value` as the JSON values the SDK would serialise it to (for objects that do not pickle)."""
    from langfuse._utils.serializer import EventSerializer

    return json.loads(json.dumps(value, cls=EventSerializer))


def _picklable(message: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """Return the message, its values made plain if some object in it does not pickle; None if still not."""
    try:
        pickle.dumps(message)
        return message
    except Exception:  # any user object can refuse pickling in its own way
        if message[0] != "item":
            return None
    trace_id, root_id, parts, start, end, events = message[1]
    plain_events = [
        (*e[:5], {k: _plain(v) for k, v in e[5].items()}, *e[6:]) if e[0] == "open"
        else (*e[:2], {k: _plain(v) for k, v in e[2].items()}) if e[0] == "update"
        else e
        for e in events
    ]  # fmt: skip
    record = (trace_id, root_id, dataclasses.replace(parts, input=_plain(parts.input)), start, end, plain_events)
    try:
        pickle.dumps(record)
    except Exception:  # EventSerializer should make anything plain; if not, this item's trace is lost
        return None
    return ("item", record)


def _read_exact(stream: IO[bytes], size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(stream: IO[bytes]) -> Any:
    """Read one length-prefixed pickle; None at end of stream."""
    header = _read_exact(stream, _HEADER.size)
    if header is None:
        return None
    payload = _read_exact(stream, _HEADER.unpack(header)[0])
    return None if payload is None else pickle.loads(payload)


def worker_settings(client: Langfuse) -> dict[str, Any] | None:
    """Return the client's settings for the worker's own client; None when they cannot leave this process."""
    resources = getattr(client, "_resources", None)
    if resources is None or not getattr(client, "_tracing_enabled", False):
        return None  # a disabled client records nothing: nothing to take off the loop
    if any(getattr(resources, name, None) is not None for name in _NOT_TRANSFERABLE) or resources.id_generator:
        return None  # callables and objects of this process: the in-process client keeps them exact
    names = (
        "public_key", "secret_key", "base_url", "timeout", "environment", "release", "flush_at", "flush_interval",
        "sample_rate", "media_upload_thread_count", "additional_headers", "otel_compression",
    )  # fmt: skip
    return {name: getattr(resources, name, None) for name in names}


def start_worker(client: Langfuse) -> TracingWorker | None:
    """Start a worker replaying through a client with `client`'s settings; None to stay in this process."""
    settings = worker_settings(client)
    return TracingWorker(settings) if settings is not None else None


class _Channel:
    """The child process, the queue to it, and what was handed over: shared with the sender thread."""

    def __init__(self, settings: dict[str, Any]) -> None:
        import promptops

        env = dict(os.environ)
        root = str(Path(promptops.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "promptops.tracing.langfuse_replay"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, bufsize=0, start_new_session=True,
        )  # fmt: skip
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        self.outbox: queue.Queue[tuple[Any, ...] | None] = queue.Queue(OUTBOX_MESSAGES)
        self.handed = 0  # items given to the sender since the last flush the child confirmed
        self.unsent = 0  # items whose record could not be pickled at all
        self.dead = False
        self.stopped = False
        self.handed_over = threading.Event()
        try:
            write_frame(self.stdin, settings)  # the secret key goes through the pipe only
        except OSError:
            self.dead = True
        self.sender = threading.Thread(target=self._send, name="promptops-trace-sender", daemon=True)
        self.sender.start()

    def _send(self) -> None:
        while True:
            batch: list[tuple[Any, ...] | None] = [self.outbox.get()]
            while len(batch) < BATCH_MESSAGES:
                try:
                    batch.append(self.outbox.get_nowait())
                except queue.Empty:
                    break
            messages = [m for m in batch if m is not None]
            if messages and not self.dead:
                try:
                    write_payload(self.stdin, self._encode(messages))
                except OSError:  # the child is gone: what it had not replayed is lost
                    self.dead = True
            if None in batch:
                break
        try:
            self.stdin.close()  # the child delivers what it has, then exits
        except OSError:
            pass  # already broken: the child is gone
        self.handed_over.set()
        self.process.wait()  # reaped here; at interpreter exit this daemon thread is simply dropped

    def _encode(self, messages: list[tuple[Any, ...]]) -> bytes:
        try:
            return pickle.dumps(messages, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # an output object that does not pickle: that message alone is made plain
            kept = [m for m in map(_picklable, messages) if m is not None]
            self.unsent += len(messages) - len(kept)
            return pickle.dumps(kept, protocol=pickle.HIGHEST_PROTOCOL)

    def stop(self, wait: bool) -> None:
        """Tell the child to deliver what it has and exit; `wait` until everything queued was written to it."""
        if not self.stopped:
            self.stopped = True
            self.outbox.put(None)
        if wait:
            self.handed_over.wait()


class TracingWorker:
    """Hands item records to the child and waits for its flushes."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self._channel = _Channel(settings)
        self._flushes = 0
        self._failures = 0  # items the child could not replay, as it last reported
        self._pending = False  # handed something since the last flush (a command that ran nothing never waits)
        self._lock = threading.Lock()
        # Dropped with its tracer (tests make many): the child then finishes and exits on its own. At
        # interpreter exit, what is still queued is written to it first, as the SDK delivers at exit.
        weakref.finalize(self, self._channel.stop, False)
        atexit.register(self._channel.stop, True)

    def send_item(self, record: tuple[Any, ...]) -> None:
        """Hand one item's record to the child (blocks only when the child is far behind)."""
        channel = self._channel
        channel.handed += 1
        self._pending = True
        if not channel.dead and not channel.stopped:
            channel.outbox.put(("item", record))

    def run_scores(self, run_id: str, scores: list[tuple[str, float]]) -> None:
        """Hand the run-level scores to the child, after the run's items."""
        self._pending = True
        if not self._channel.dead and not self._channel.stopped:
            self._channel.outbox.put(("run_scores", run_id, scores))

    def flush(self) -> None:
        """Return once the child has replayed and delivered everything handed to it, or has died (a warning)."""
        with self._lock:
            if not self._pending:
                return  # nothing handed since the last flush: no need to wait for the child (nor its start-up)
            self._pending = False
            channel = self._channel
            if not channel.dead and not channel.stopped:
                self._flushes += 1
                handed = channel.handed
                channel.outbox.put(("flush", self._flushes))
                reply = self._reply(self._flushes)
                if reply is not None:
                    channel.handed -= handed
                    self._report_failures(reply[2] + channel.unsent)
                    return
                channel.dead = True
            self._report_lost()

    def _reply(self, number: int) -> tuple[Any, ...] | None:
        channel = self._channel
        while True:
            readable, _, _ = select.select([channel.stdout], [], [], 1.0)
            if readable:
                reply = read_frame(channel.stdout)
                if reply is None:
                    return None
                if reply[0] == "flushed" and reply[1] == number:
                    return tuple(reply)
            elif channel.process.poll() is not None:
                return None

    def _report_failures(self, failures: int) -> None:
        if failures > self._failures:
            logger.warning("Langfuse tracing: %d items' traces could not be replayed", failures - self._failures)
            self._failures = failures

    def _report_lost(self) -> None:
        channel = self._channel
        if channel.handed:
            try:  # its pipe closed: it is gone or going, and may not be reaped yet (a kill reads "-9", not "None")
                code: int | None = channel.process.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                code = None
            logger.warning(
                "Langfuse tracing worker stopped (exit code %s): the traces of up to %d items were not delivered",
                code, channel.handed,
            )  # fmt: skip
            channel.handed = 0

    def close(self) -> None:
        """Deliver everything, then let the child exit (without waiting for its SDK threads to wind down)."""
        self.flush()
        self._channel.stop(False)
