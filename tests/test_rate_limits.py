"""Rate limits and transient failures of a real server: Retry-After, adaptive concurrency, retries, timeouts.

Through the runner (and the CLI) with the real openai SDK against the OpenAI double. Times are only ever
asserted as lower bounds the code guarantees (a wait the server asked for), never as speed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from promptops.llm.limits import AdaptiveLimit
from promptops.model import DatasetItem, DatasetSpec, EvaluatorSpec, ExperimentSpec, RenderedPrompt
from promptops.model_calls import ModelSession
from promptops.results import ExperimentResult
from promptops.runner import run
from promptops.tracing import NullTracer, Subject
from tests.helpers import git_init, make_project, run_cli
from tests.openai_double.server import OpenAIDouble

PROMPT = "What is the capital of {{country}}? Answer with only the city name."
COUNTRIES = ("France", "Germany", "Japan", "Italy", "Spain", "Canada", "Kenya", "Peru")


def go(n: int, **controls: object) -> ExperimentResult:
    """Run n capital questions on gpt-4o-mini (the double) with these ExperimentSpec controls."""
    rendered = RenderedPrompt("capitals", "text", PROMPT, {}, (), (), "sha256:c", "prompts/capitals.yaml")
    items = tuple(DatasetItem(f"q{i}", {"country": COUNTRIES[i % 8]}, "?") for i in range(n))
    evaluators = (EvaluatorSpec("exact_match", "exact_match"),)
    spec = ExperimentSpec("d", model="gpt-4o-mini", evaluators=evaluators, **controls)  # type: ignore[arg-type]
    calls = ModelSession().run_calls("capitals", "sha256:c", spec)
    data = DatasetSpec("d", "d.yaml", items=items)
    return run(Subject(rendered, 1, "v1"), data, spec, tracer=NullTracer(), calls=calls)


def test_a_200_item_run_at_concurrency_32_against_a_limited_key_loses_no_item(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], openai_double: OpenAIDouble
) -> None:
    # 40 a second: a loaded machine has sent 200 items at concurrency 32 slower than 100 a second, under the limit.
    openai_double.rate_limit_per_s, openai_double.latency_s = 40, 0.01
    root = make_project(tmp_path / "repo")
    rows = "\n".join(f"  - {{id: q{i}, input: {{country: {COUNTRIES[i % 8]}}}}}" for i in range(200))
    (root / "prompts" / "datasets").mkdir(parents=True)
    (root / "prompts" / "datasets" / "many.yaml").write_text(f"items:\n{rows}\n", "utf-8")
    (root / "prompts" / "capitals.yaml").write_text(
        f"prompt: '{PROMPT}'\nvariables: {{country: {{}}}}\nexperiment:\n  dataset: many\n  model: gpt-4o-mini\n"
        "  concurrency: 32\n  evaluators: [{type: exact_match}]\n",
        "utf-8",
    )
    git_init(root)
    monkeypatch.chdir(root)
    result = run_cli(capsys, "experiment", "capitals", "--responses", "off")
    assert result.code == 0, result.err
    assert "item(s) failed" not in result.out
    assert openai_double.completions == 200 and openai_double.limited > 0
    (limited,) = [line for line in result.out.splitlines() if line.startswith("rate limited")]
    assert limited.startswith(f"rate limited {openai_double.limited} times (HTTP 429, waited out and retried); ")
    assert limited.endswith(" of 32")


def test_a_429_waits_as_long_as_retry_after_asks(openai_double: OpenAIDouble) -> None:
    openai_double.fail_next(429, retry_after_s=0.3)
    result = go(1, retries=0)
    assert result.items[0].error is None  # a 429 does not use up the retries: it is waited out
    first, second = openai_double.log
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.3
    assert (result.calls.rate_limited, result.calls.lowest_concurrency) == (1, 2)  # the default 4, halved


def test_waiting_on_a_rate_limit_does_not_count_against_the_item_timeout(openai_double: OpenAIDouble) -> None:
    # Waits of 2 x 0.75 s against a 1 s item timeout: only the request itself (milliseconds) counts. The margins
    # are wide so a loaded machine's slow request cannot reach the timeout on its own.
    openai_double.fail_next(429, count=2, retry_after_s=0.75)
    result = go(1, item_timeout_s=1.0)
    assert result.items[0].error is None and result.calls.rate_limited == 2


def test_500s_and_timeouts_are_retried_and_an_exhausted_quota_is_not(openai_double: OpenAIDouble) -> None:
    openai_double.fail_next(500)
    openai_double.hang_next()
    retried = go(1, retries=2, model_options={"timeout_s": 0.3})
    assert retried.items[0].error is None
    # The 500, the hung request (given up by the client after 0.3 s), then the answer.
    assert (openai_double.requests, openai_double.completions) == (3, 1)
    openai_double.fail_next(429, code="insufficient_quota")
    failed = go(1, retries=2)
    assert failed.items[0].error == "model error: gpt-4o-mini: HTTP 429: scripted failure"
    assert failed.calls.rate_limited == 0


def test_a_server_error_after_retries_says_how_many_attempts(openai_double: OpenAIDouble) -> None:
    openai_double.fail_next(503, count=3)
    result = go(1, retries=2)
    assert result.items[0].error == "model error: gpt-4o-mini: HTTP 503: scripted failure (gave up after 3 attempts)"
    assert openai_double.requests == 3


def test_adaptive_limit_halves_once_per_round_and_grows_back_by_one_per_round() -> None:
    async def scenario() -> list[int]:
        limit = AdaptiveLimit(8)
        seen = [limit.allowed()]
        epochs = [(await limit.acquire())[0] for _ in range(8)]
        limit.release(epochs[0], rate_limited=True)
        limit.release(epochs[1], rate_limited=True)  # started before the decrease: not counted again
        seen.append(limit.allowed())
        for epoch in epochs[2:]:
            limit.release(epoch, grow=False)
        epoch, _ = await limit.acquire()
        limit.release(epoch, rate_limited=True)
        seen.append(limit.allowed())
        for _ in range(3):  # about a round of `limit` successes adds one slot: 2 + 1/2 + 1/2.5 + 1/2.9
            epoch, _ = await limit.acquire()
            limit.release(epoch)
        seen.append(limit.allowed())
        for _ in range(100):
            epoch, _ = await limit.acquire()
            limit.release(epoch)
        seen += [limit.allowed(), limit.lowest]
        return seen

    assert asyncio.run(scenario()) == [8, 4, 2, 3, 8, 2]


def test_the_limit_holds_every_call_until_retry_after_has_passed() -> None:
    async def scenario() -> float:
        limit = AdaptiveLimit(4)
        epoch, _ = await limit.acquire()
        limit.release(epoch, rate_limited=True, wait_s=0.2)
        _, waited = await limit.acquire()
        return waited

    assert asyncio.run(scenario()) >= 0.19  # loop.time() granularity; asyncio.sleep never wakes early
