"""Benchmark the experiment runner: throughput against the concurrency/latency limit, tracing cost, peak memory.

Run by hand from the repository root: `.venv/bin/python bench/bench_runner.py` (add `--quick` for a smoke run).
Throughput uses mock-llm-v1 at 50 ms latency on 200 items at concurrency 1, 8 and 32, with no tracing, with
LangfuseTracer (its worker process replaying through the SDK) sending to the test double in this process or
in a child, and with LocalTracer (SQLite); the Langfuse rows again with the SDK's 512-span batches (promptops
sends 64). Memory runs 100,000 items (latency 0, concurrency 32, NullTracer) in a child process so its peak RSS
is its own.
`--flush-floor` times only the SDK's own final flush: a bare client that made a run's spans and then sat idle,
and one that makes a last wave's items (32) and flushes at once.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.langfuse_double, which is not an installed package

from promptops.model import DatasetItem, DatasetSpec, EvaluatorSpec, ExperimentSpec, RenderedPrompt  # noqa: E402
from promptops.runner import run  # noqa: E402
from promptops.tracing import LocalTracer, NullTracer, Subject, Tracer  # noqa: E402

if TYPE_CHECKING:
    from promptops.tracing.langfuse import LangfuseTracer

COUNTRIES = ("France", "Germany", "Japan", "Italy", "Spain", "Canada", "Kenya", "Peru")
PROMPT = "What is the capital of {{country}}? Answer with only the city name."
LATENCY_MS = 50


def subject() -> Subject:
    """Return the benchmark's prompt at version 1."""
    rendered = RenderedPrompt("capitals", "text", PROMPT, {}, (), (), "sha256:bench", "prompts/capitals.yaml")
    return Subject(rendered, 1, "version 1")


def dataset(n: int) -> DatasetSpec:
    """Return n items cycling through the countries, each with a unique id."""
    items = tuple(DatasetItem(f"item-{i}", {"country": COUNTRIES[i % len(COUNTRIES)]}, "?") for i in range(n))
    return DatasetSpec("bench", "bench.yaml", items=items)


def spec(concurrency: int, latency_ms: int) -> ExperimentSpec:
    """Return the run settings: two cheap evaluators, the mock at the given latency."""
    evaluators = (EvaluatorSpec("exact_match", "exact_match"), EvaluatorSpec("length", "char_length"))
    return ExperimentSpec(
        "bench", evaluators=evaluators, concurrency=concurrency, model_options={"latency_ms": latency_ms}
    )


@contextmanager
def tracers(kind: str, flush_at: int | None = None) -> Iterator[Tracer]:
    """Yield a fresh tracer: none, local (SQLite in tmp), langfuse (double in this process) or langfuse-proc.

    `flush_at`: the Langfuse client's span batch size (default the SDK's 512).
    """
    if kind == "none":
        yield NullTracer()
    elif kind == "local":
        with tempfile.TemporaryDirectory() as tmp:
            yield LocalTracer(Path(tmp) / "runs.db")
    elif kind == "langfuse":
        from tests.langfuse_double.server import LangfuseDouble

        with LangfuseDouble() as double:
            tracer = langfuse_tracer(double.public_key, double.secret_key, double.base_url, flush_at)
            yield tracer
            tracer.close()
            tracer.client.shutdown()
            assert not double.violations, double.violations
    else:
        # The double in its own process: what the SDK costs without the server's work competing for our GIL.
        with child_double() as keys:
            tracer = langfuse_tracer(keys["public_key"], keys["secret_key"], keys["base_url"], flush_at)
            yield tracer
            tracer.close()
            tracer.client.shutdown()


@contextmanager
def child_double() -> Iterator[dict[str, str]]:
    """Serve a Langfuse double in a child process (serve_double) and yield its keys and address."""
    serve = [sys.executable, __file__, "--serve-double"]
    with subprocess.Popen(serve, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None and child.stdin is not None
        yield json.loads(child.stdout.readline())
        child.stdin.close()


def langfuse_tracer(public_key: str, secret_key: str, base_url: str, flush_at: int | None) -> LangfuseTracer:
    """Return a LangfuseTracer on a client made as promptops makes it: masking on, promptops' batching (64 spans
    and scores per export, or `flush_at`; 512 is the SDK's own default), the SDK's 5 s interval."""
    from langfuse import Langfuse

    from promptops.model import TracingConfig
    from promptops.tracing.langfuse import LangfuseTracer, client_options, make_mask

    batching = client_options(TracingConfig(flush_at=flush_at))
    client = Langfuse(public_key=public_key, secret_key=secret_key, base_url=base_url, mask=make_mask(()), **batching)
    return LangfuseTracer(client)


def serve_double() -> None:
    """Serve a Langfuse double until stdin closes; print its keys and address first."""
    from tests.langfuse_double.server import LangfuseDouble

    with LangfuseDouble() as double:
        keys = {"public_key": double.public_key, "secret_key": double.secret_key, "base_url": double.base_url}
        print(json.dumps(keys), flush=True)
        sys.stdin.read()


class TimedFlush:
    """Delegates to a tracer, timing its final flush (the SDK may wait up to its 1 s score interval there)."""

    def __init__(self, tracer: Tracer) -> None:
        self.tracer, self.name, self.flush_s = tracer, tracer.name, 0.0
        self.start_run, self.item, self.finish_run = tracer.start_run, tracer.item, tracer.finish_run

    def flush(self) -> None:
        started = time.perf_counter()
        self.tracer.flush()
        self.flush_s += time.perf_counter() - started


def throughput(
    items: int, concurrency: int, tracer_kind: str, tries: int, flush_at: int | None = None
) -> dict[str, Any]:
    """Time runs (median of `tries`) with and without the final flush; compare with the concurrency/latency limit."""
    timings: list[tuple[float, float]] = []
    with tracers(tracer_kind, flush_at) as tracer:
        run(subject(), dataset(8), spec(8, 0), tracer=tracer)  # warm up: imports, SDK client, first compile
        for _ in range(tries):
            timed = TimedFlush(tracer)
            started = time.perf_counter()
            result = run(subject(), dataset(items), spec(concurrency, LATENCY_MS), tracer=timed)
            timings.append((time.perf_counter() - started, timed.flush_s))
            assert not result.failed_items, result.failure_reasons()
    elapsed, flush_s = sorted(timings)[len(timings) // 2]
    limit = concurrency / (LATENCY_MS / 1000)
    # Identical latencies run in waves: ceil(items / concurrency) of them, however fast the runner is.
    waves_bound = items / (math.ceil(items / concurrency) * LATENCY_MS / 1000)
    rate, rate_before_flush = items / elapsed, items / (elapsed - flush_s)
    return {
        "tracer": tracer_kind, **({"flush_at": flush_at} if flush_at else {}),
        "concurrency": concurrency, "items": items, "seconds": round(elapsed, 3),
        "flush_s": round(flush_s, 3), "items_per_s": round(rate, 1), "limit_per_s": round(limit, 1),
        "of_limit": round(rate / limit, 3), "of_limit_before_flush": round(rate_before_flush / limit, 3),
        "waves_bound_per_s": round(waves_bound, 1), "of_waves_bound": round(rate / waves_bound, 3),
    }  # fmt: skip


def memory(items: int) -> dict[str, Any]:
    """Run `items` items at latency 0 (concurrency 32, NullTracer); report time, traced peak and max RSS."""
    data = dataset(items)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    result = run(subject(), data, spec(32, 0), tracer=NullTracer())
    elapsed = time.perf_counter() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    small = replace(data, items=data.items[: items // 10])
    run(subject(), small, spec(32, 0), tracer=NullTracer())
    _, peak_tenth = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "items": items, "seconds": round(elapsed, 2), "items_per_s": round(items / elapsed),
        "failed": len(result.failed_items), "max_rss_mib": round(rss_after / 1024, 1),
        "rss_before_run_mib": round(rss_before / 1024, 1),
        "traced_peak_mib_for_a_tenth": round(peak_tenth / 2**20, 1),
    }  # fmt: skip


def flush_floor(items: int, flush_at: int | None, tries: int = 5) -> dict[str, Any]:
    """Time the bare SDK's flush() after making `items` items' spans (a span and a generation each) and sitting
    idle for a second: the part of a traced run's final flush that no tracer design can take off the run."""
    import statistics

    from langfuse import Langfuse

    from tests.langfuse_double.server import LangfuseDouble

    timings = []
    with LangfuseDouble() as double:
        for _ in range(tries):
            batching = {"flush_at": flush_at} if flush_at is not None else {}
            client = Langfuse(
                public_key=double.public_key, secret_key=double.secret_key, base_url=double.base_url, **batching
            )
            for _ in range(items):
                with client.start_as_current_observation(name="item", as_type="span"):
                    with client.start_as_current_observation(name="llm", as_type="generation") as generation:
                        generation.update(output="x")
            time.sleep(1.0)
            started = time.perf_counter()
            client.flush()
            timings.append(time.perf_counter() - started)
            client.shutdown()
    return {
        "flush_floor": {"items": items, "spans": 2 * items, **({"flush_at": flush_at} if flush_at else {})},
        "flush_s_median": round(statistics.median(timings), 3),
        "flush_s_max": round(max(timings), 3),
    }


def last_wave_floor(items: int = 32, tries: int = 9) -> dict[str, Any]:
    """Time the bare SDK (promptops' 64-span batches) making one wave's items, a span, a generation and two
    scores each, and flushing at once: what any tracer must still do after a run's last item ends."""
    import statistics

    from langfuse import Langfuse

    with child_double() as keys:
        client = Langfuse(**keys, flush_at=64)

        def wave() -> None:
            for i in range(items):
                with client.start_as_current_observation(name="item", as_type="span", input={"n": i}) as root:
                    with client.start_as_current_observation(name="llm", as_type="generation") as generation:
                        generation.update(output="Paris", usage_details={"input": 10, "output": 1})
                    root.update(output="Paris", metadata={"item_id": f"item-{i}"})
                    root.score(name="exact_match", value=1.0, data_type="BOOLEAN")
                    root.score(name="length", value=5.0, data_type="NUMERIC")

        wave()
        client.flush()
        timings = []
        for _ in range(tries):
            time.sleep(0.3)
            started = time.perf_counter()
            wave()
            client.flush()
            timings.append(time.perf_counter() - started)
        client.shutdown()
    return {
        "last_wave_floor": {"items": items, "spans": 2 * items, "scores": 2 * items, "flush_at": 64},
        "seconds_median": round(statistics.median(timings), 4),
        "seconds_min": round(min(timings), 4),
    }


def machine() -> dict[str, str]:
    """Describe where the figures came from."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor() or "unknown",
    )
    return {
        "nproc": str(os.cpu_count()), "cpu": model, "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"), "platform": platform.platform(),
    }  # fmt: skip


def main() -> None:
    """Print the figures as JSON lines."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer items, for a smoke run")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-double", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--flush-floor", action="store_true", help="time only the bare SDK's final flush and last wave")
    args = parser.parse_args()
    if args.serve_double:
        return serve_double()
    if args.flush_floor:
        print(json.dumps({"machine": machine()}))
        for flush_at in (None, 64):
            print(json.dumps(flush_floor(224, flush_at)), flush=True)
        print(json.dumps(last_wave_floor()), flush=True)
        return
    if args.memory_child:
        print(json.dumps(memory(args.memory_child)))
        return
    print(json.dumps({"machine": machine()}))
    items = 40 if args.quick else 200
    for tracer_kind in ("none", "langfuse", "langfuse-proc", "local"):
        for concurrency in (1, 8, 32):
            tries = 1 if concurrency == 1 else 3
            print(json.dumps(throughput(items, concurrency, tracer_kind, tries)), flush=True)
        # 224 = 7 x 32: full rounds, so the wave bound equals the limit and only the runner's own cost shows.
        print(json.dumps(throughput(items + 24, 32, tracer_kind, 3)), flush=True)
    for tracer_kind in ("langfuse", "langfuse-proc"):
        # The SDK's own batch size: a run's spans wait for the final flush, which then sends them all.
        print(json.dumps(throughput(items + 24, 32, tracer_kind, 3, flush_at=512)), flush=True)
    big = 10_000 if args.quick else 100_000
    if os.environ.get("BENCH_SKIP_MEMORY"):
        return
    child = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(big)], capture_output=True, text=True, check=True
    )
    print(child.stdout.strip())


if __name__ == "__main__":
    main()
