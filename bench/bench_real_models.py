"""Benchmark real-model runs: replaying recordings against the mock, and live calls against the OpenAI double.

Run by hand from the repository root: `.venv/bin/python bench/bench_real_models.py` (`--quick` for a smoke run).

(a) Replay: a 200-item experiment answered from recordings (gpt-4o-mini, mode replay, recorded once against the
    double) next to the same experiment on mock-llm-v1 (latency 0); the goal is replay within 1.5x the mock.
(b) Live: the same 200 items through the real openai SDK against the double in a child process at 200 ms per
    call, concurrency 32; the goal is within 15 % of concurrency / latency = 160 items/s. The first run of a
    process is shown apart (importing the SDK's types and opening 32 connections), and longer runs next to it.
(c) Rate limited: 200 items at concurrency 32 against a key limited to 50 requests/s (ideal: 4 s).
Every run uses NullTracer, so the figures are the runner's and the SDK's, not a tracer's.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.openai_double, which is not an installed package

from promptops.model import DatasetItem, DatasetSpec, EvaluatorSpec, ExperimentSpec, RenderedPrompt  # noqa: E402
from promptops.model_calls import ModelSession  # noqa: E402
from promptops.responses import ResponseStore  # noqa: E402
from promptops.results import ExperimentResult  # noqa: E402
from promptops.runner import run  # noqa: E402
from promptops.tracing import NullTracer, Subject  # noqa: E402

COUNTRIES = ("France", "Germany", "Japan", "Italy", "Spain", "Canada", "Kenya", "Peru")
PROMPT = "What is the capital of {{country}}? Answer with only the city name."
RENDERED = RenderedPrompt("capitals", "text", PROMPT, {}, (), (), "sha256:bench", "prompts/capitals.yaml")


def dataset(n: int) -> DatasetSpec:
    """Return n items cycling through the countries, each with a unique id."""
    items = tuple(DatasetItem(f"item-{i}", {"country": COUNTRIES[i % len(COUNTRIES)]}, "?") for i in range(n))
    return DatasetSpec("bench", "bench.yaml", items=items)


def spec(model: str, concurrency: int = 32) -> ExperimentSpec:
    """Return the run settings: two cheap evaluators."""
    evaluators = (EvaluatorSpec("exact_match", "exact_match"), EvaluatorSpec("length", "char_length"))
    return ExperimentSpec("bench", model=model, evaluators=evaluators, concurrency=concurrency)


def timed(n: int, model: str, session: ModelSession) -> tuple[float, ExperimentResult]:
    """Return the wall time of one run of n items, and its result."""
    experiment = spec(model)
    calls = session.run_calls("capitals", RENDERED.content_hash, experiment)
    started = time.perf_counter()
    result = run(Subject(RENDERED, 1, "version 1"), dataset(n), experiment, tracer=NullTracer(), calls=calls)
    return time.perf_counter() - started, result


@contextmanager
def double(latency_ms: float, rate_limit: int | None = None) -> Iterator[None]:
    """Serve the OpenAI double in a child process and point the SDK at it."""
    args = [sys.executable, "-m", "tests.openai_double", "--latency-ms", str(latency_ms)]
    if rate_limit is not None:
        args += ["--rate-limit", str(rate_limit)]
    child = subprocess.Popen(args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdin is not None
    url, key = child.stdout.readline().split()
    old = {k: os.environ.get(k) for k in ("OPENAI_BASE_URL", "OPENAI_API_KEY")}
    os.environ.update(OPENAI_BASE_URL=url, OPENAI_API_KEY=key)
    try:
        yield
    finally:
        child.stdin.close()
        child.wait(10)
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def replay_vs_mock(n: int, runs: int) -> None:
    """(a): the median of `runs` replays against the median of `runs` mock runs."""
    with tempfile.TemporaryDirectory() as tmp:
        store = ResponseStore(Path(tmp))
        with double(0):
            _, recorded = timed(n, "gpt-4o-mini", ModelSession(mode="record", store=store))
        assert not recorded.failed_items
        mock = [timed(n, "mock-llm-v1", ModelSession())[0] for _ in range(runs)]
        replays = []
        for _ in range(runs):
            elapsed, result = timed(n, "gpt-4o-mini", ModelSession(mode="replay", store=store))
            assert result.calls.replayed_calls == n and not result.failed_items
            replays.append(elapsed)
    m, r = statistics.median(mock), statistics.median(replays)
    print(f"(a) {n} items, median of {runs}: mock {m * 1000:.0f} ms, replay {r * 1000:.0f} ms, ratio {r / m:.2f}x")


def cli_replay_vs_mock(n: int, runs: int) -> None:
    """(a) again through `promptops experiment` in fresh processes, as CI runs it (no key for the replay)."""
    rows = "\n".join(
        f"  - {{id: item-{i}, input: {{country: {COUNTRIES[i % 8]}}}, expected_output: x}}" for i in range(n)
    )
    prompt = "prompt: '{prompt}'\nvariables: {{country: {{}}}}\nexperiment:\n  dataset: many\n  model: {model}\n"
    prompt += "  concurrency: 32\n  evaluators: [{{type: exact_match}}, {{type: char_length, name: length}}]\n"
    exe = str(Path(sys.executable).parent / "promptops")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "prompts" / "datasets").mkdir(parents=True)
        (root / "promptops.yaml").write_text("prompts_dir: prompts\n", "utf-8")
        (root / "prompts" / "datasets" / "many.yaml").write_text(f"items:\n{rows}\n", "utf-8")
        (root / "prompts" / "mock.yaml").write_text(prompt.format(prompt=PROMPT, model="mock-llm-v1"), "utf-8")
        (root / "prompts" / "real.yaml").write_text(prompt.format(prompt=PROMPT, model="gpt-4o-mini"), "utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LANGFUSE_"))}

        def once(name: str, mode: str, extra: dict[str, str] | None = None) -> float:
            started = time.perf_counter()
            done = subprocess.run(
                [exe, "--registry", "local", "experiment", name, "--responses", mode],
                cwd=root, env={**env, **(extra or {})}, capture_output=True, text=True,
            )  # fmt: skip
            assert done.returncode == 0, done.stdout + done.stderr
            return time.perf_counter() - started

        with double(0):
            once("real", "record", {k: os.environ[k] for k in ("OPENAI_BASE_URL", "OPENAI_API_KEY")})
        mock = statistics.median(once("mock", "off") for _ in range(runs))
        replay = statistics.median(once("real", "replay") for _ in range(runs))
    print(
        f"(a) `promptops experiment`, {n} items, median of {runs} processes: mock {mock * 1000:.0f} ms, "
        f"replay {replay * 1000:.0f} ms, ratio {replay / mock:.2f}x"
    )


def live(sizes: list[int], latency_ms: float) -> None:
    """(b): items/s against the double, the first run of this process apart."""
    limit = 32 / (latency_ms / 1000)
    with double(latency_ms):
        session = ModelSession()
        for label, n in [("first run in the process", sizes[0])] + [("warm", s) for s in sizes]:
            cpu = time.process_time()
            elapsed, result = timed(n, "gpt-4o-mini", session)
            cpu_ms = (time.process_time() - cpu) / n * 1000  # this process only: the double runs in its own
            assert not result.failed_items, result.failure_reasons()
            rate = n / elapsed
            print(
                f"(b) {label}, {n} items: {elapsed:.2f} s, {rate:.1f} items/s = {rate / limit:.0%} of {limit:.0f}; "
                f"{cpu_ms:.2f} ms CPU per item"
            )


def rate_limited(n: int, per_second: int) -> None:
    """(c): a limited key, concurrency 32."""
    with double(10, rate_limit=per_second):
        elapsed, result = timed(n, "gpt-4o-mini", ModelSession())
    calls = result.calls
    print(
        f"(c) {n} items at {per_second}/s: {elapsed:.2f} s (ideal {(n - per_second) / per_second:.1f} s: the first "
        f"second lets {per_second} through at once), "
        f"{len(result.failed_items)} failed, {calls.rate_limited} times limited, lowest concurrency "
        f"{calls.lowest_concurrency}"
    )


def main() -> None:
    """Print the machine, then the three measurements."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a smoke test")
    args = parser.parse_args()
    load = os.getloadavg()
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {platform.processor() or platform.machine()} · nproc "
        f"{os.cpu_count()} · Python {platform.python_version()} · load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    if args.quick:
        replay_vs_mock(50, 3)
        cli_replay_vs_mock(50, 1)
        live([64], 200)
        rate_limited(50, 50)
        return
    replay_vs_mock(200, 7)
    cli_replay_vs_mock(200, 5)
    live([200, 224, 640], 200)
    rate_limited(200, 50)


if __name__ == "__main__":
    main()
