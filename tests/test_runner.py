"""The experiment runner with mock-llm-v1: exact results, concurrency, retries, limits, and every item kept."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from typing import Any, cast

import pytest

from promptops.errors import ExperimentError, ModelError
from promptops.evaluators import EvalCase, Evaluator, Score, build_evaluator
from promptops.evaluators.base import DataType
from promptops.llm import Completion, LLMRequest, get_provider
from promptops.model import DatasetItem, DatasetSpec, EvaluatorSpec, ExperimentSpec, RenderedPrompt
from promptops.results import ExperimentResult
from promptops.runner import backoff_s, run, run_experiment
from promptops.tracing import NullTracer, Subject

BARE = "What is the capital of {{country}}? Answer with only the city name."
COUNTRIES = ("France", "Germany", "Japan", "Atlantis")
CAPITALS = {"France": "Paris", "Germany": "Berlin", "Japan": "Tokyo", "Atlantis": "Poseidonia"}
EVALUATORS = (
    EvaluatorSpec("exact_match", "exact_match"),
    EvaluatorSpec("answer_length", "char_length"),
    EvaluatorSpec("user_feedback", "feedback"),
)


def subject(prompt: str = BARE, config: Mapping[str, Any] | None = None) -> Subject:
    """Return a text prompt subject at version 3."""
    rendered = RenderedPrompt(
        "capitals", "text", prompt, dict(config or {}), (), (), "sha256:test", "prompts/capitals.yaml"
    )
    return Subject(rendered, 3, "version 3 (production)")


def dataset(countries: tuple[str, ...] = COUNTRIES) -> DatasetSpec:
    """Return one item per country, expecting its capital."""
    items = tuple(DatasetItem(c.lower(), {"country": c}, CAPITALS.get(c, "?")) for c in countries)
    return DatasetSpec("capitals", "prompts/datasets/capitals.yaml", items=items)


def spec(**changes: Any) -> ExperimentSpec:
    """Return an experiment spec on mock-llm-v1 with the three evaluators."""
    return dataclasses.replace(ExperimentSpec("capitals", evaluators=EVALUATORS, seed=5), **changes)


def go(experiment: ExperimentSpec, data: DatasetSpec | None = None, **kwargs: Any) -> ExperimentResult:
    """Run synchronously with no recording."""
    return run(subject(), data or dataset(), experiment, tracer=NullTracer(), **kwargs)


class Recording:
    """A provider wrapping the mock that logs requests and counts calls in flight."""

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.inner = get_provider("mock-llm-v1", options or {})
        self.name = "mock-llm-v1"
        self.requests: list[LLMRequest] = []
        self.in_flight = self.max_in_flight = 0

    async def complete(self, request: LLMRequest) -> Completion:
        self.requests.append(request)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self.inner.complete(request)
        finally:
            self.in_flight -= 1

    def attempts(self, country: str) -> list[int]:
        return [r.attempt for r in self.requests if country in r.messages[0]["content"]]


def test_mock_run_gives_exact_outputs_scores_metrics_and_tokens() -> None:
    result = go(spec())
    assert [(i.item_id, i.repeat, i.output, i.error) for i in result.items] == [
        ("france", 0, "Paris", None),
        ("germany", 0, "Berlin", None),
        ("japan", 0, "Tokyo", None),
        ("atlantis", 0, "Munich", None),
    ]
    assert [[s.value for s in i.scores] for i in result.items] == [
        [True, 5.0, "positive"],
        [True, 6.0, "positive"],
        [True, 5.0, "positive"],
        [False, 6.0, "negative"],
    ]
    metrics = result.metrics
    assert (metrics["exact_match"].mean, metrics["exact_match"].pass_rate) == (0.75, 0.75)
    assert metrics["answer_length"].mean == 5.5
    assert (metrics["user_feedback"].mean, dict(metrics["user_feedback"].distribution)) == (
        0.75,
        {"negative": 1, "positive": 3},
    )
    assert (metrics["error_rate"].mean, metrics["latency_p50"].n, metrics["latency_p95"].n) == (0.0, 4, 4)
    assert (result.input_tokens, result.output_tokens) == (4 * 12, 4)
    assert (result.prompt, result.version, result.subject, result.dataset, result.seed) == (
        "capitals",
        3,
        "version 3 (production)",
        "capitals",
        5,
    )
    assert result.stopped is None and len(result.run_id) == 16


def _without_run_id_and_latency(result: ExperimentResult) -> ExperimentResult:
    items = tuple(dataclasses.replace(i, latency_s=None) for i in result.items)
    metrics = {k: v for k, v in result.metrics.items() if not k.startswith("latency_")}
    return dataclasses.replace(result, run_id="", items=items, metrics=metrics)


def test_two_runs_are_identical_except_run_id_and_latency() -> None:
    first, second = go(spec(repeats=2, concurrency=3)), go(spec(repeats=2, concurrency=3))
    assert first.run_id != second.run_id
    assert _without_run_id_and_latency(first) == _without_run_id_and_latency(second)


def test_with_the_mock_latency_is_the_simulated_one_so_it_reproduces_too() -> None:
    options = {"latency_ms": 2, "latency_jitter_ms": 3}
    first, second = (go(spec(repeats=2, concurrency=3, model_options=options)) for _ in range(2))
    assert dataclasses.replace(first, run_id="") == dataclasses.replace(second, run_id="")
    latencies = [i.latency_s for i in first.items]
    assert all(latency is not None and 0.002 <= latency < 0.005 for latency in latencies)
    assert len(set(latencies)) > 1  # the jitter is per prompt, seed and attempt
    assert first.metrics["latency_p95"].mean == second.metrics["latency_p95"].mean


def test_repeats_are_keyed_by_item_and_repeat_and_seeded_per_repeat() -> None:
    provider = Recording()
    result = go(spec(repeats=2, concurrency=1), dataset(("France", "Japan")), provider=provider)
    assert [(i.item_id, i.repeat) for i in result.items] == [("france", 0), ("japan", 0), ("france", 1), ("japan", 1)]
    assert [r.seed for r in provider.requests] == [5, 5, 6, 6]
    assert {r.model for r in provider.requests} == {"mock-llm-v1"}


@pytest.mark.parametrize("concurrency", [1, 4])
def test_concurrency_overlaps_calls_up_to_the_limit(concurrency: int) -> None:
    provider = Recording({"latency_ms": 30})
    result = go(spec(concurrency=concurrency), dataset(COUNTRIES * 3), provider=provider)
    assert provider.max_in_flight == concurrency
    assert len(result.items) == 12 and not result.failed_items


def test_retriable_failures_are_retried_with_the_attempt_number() -> None:
    # Seed 124 with failure_rate 0.5: France fails attempts 0 and 1, Germany never, Japan attempts 0-4.
    provider = Recording({"failure_rate": 0.5})
    result = go(spec(seed=124, retries=3), dataset(("France", "Germany", "Japan")), provider=provider)
    assert (provider.attempts("France"), provider.attempts("Germany"), provider.attempts("Japan")) == (
        [0, 1, 2],
        [0],
        [0, 1, 2, 3],
    )
    assert [i.output for i in result.items] == ["Paris", "Berlin", None]
    assert result.items[2].error == (
        "model error: mock-llm-v1: simulated transient failure (attempt 3) (gave up after 4 attempts)"
    )


def test_backoff_doubles_from_50ms_with_deterministic_jitter_and_a_cap() -> None:
    waits = [backoff_s(n, 0, "france", 0) for n in (1, 2, 3, 10)]
    assert 0.025 <= waits[0] < 0.05 and 0.05 <= waits[1] < 0.1 and 0.1 <= waits[2] < 0.2 and 1.0 <= waits[3] < 2.0
    assert waits == [backoff_s(n, 0, "france", 0) for n in (1, 2, 3, 10)]
    assert backoff_s(1, 0, "france", 0) != backoff_s(1, 0, "germany", 0)


def test_a_non_retriable_model_error_is_not_retried() -> None:
    class Refusing(Recording):
        async def complete(self, request: LLMRequest) -> Completion:
            self.requests.append(request)
            raise ModelError("content policy", retriable=False)

    provider = Refusing()
    result = go(spec(retries=5), dataset(("France",)), provider=provider)
    assert (len(provider.requests), result.items[0].error) == (1, "model error: content policy")


def test_an_item_over_its_time_limit_fails_with_timeout() -> None:
    result = go(spec(item_timeout_s=0.05, model_options={"timeout_rate": 1}), dataset(("France", "Japan")))
    assert [i.error for i in result.items] == ["timeout: item took longer than 0.05 s"] * 2
    assert result.stopped is None and result.metrics["error_rate"].mean == 1.0


def test_the_run_time_limit_fails_running_and_unstarted_items() -> None:
    hanging = spec(concurrency=2, item_timeout_s=30, total_timeout_s=0.1, model_options={"timeout_rate": 1})
    result = go(hanging, dataset(("France", "Germany", "Japan", "Atlantis", "Peru")))
    assert [i.error for i in result.items] == ["timeout: run time limit reached"] * 5
    assert result.stopped == "time limit"


def test_the_failure_threshold_stops_scheduling_and_accounts_for_every_item() -> None:
    failing = spec(concurrency=1, retries=0, max_failure_rate=0.2, model_options={"failure_rate": 1})
    result = go(failing, dataset(COUNTRIES * 5))
    reasons = [(i.error or "").split(":")[0] for i in result.items]
    assert reasons == ["model error"] * 5 + ["not run"] * 15
    assert result.items[-1].error == "not run: failure threshold reached"
    assert result.stopped == "failure threshold"
    assert (result.metrics["error_rate"].mean, result.metrics["exact_match"].missing) == (1.0, 20)


class Boom:
    """An evaluator that raises for Japan."""

    name, kind, data_type = "boom", "test", cast(DataType, "NUMERIC")
    threshold: float | None = None
    mapping: Mapping[str, float] | None = None

    async def evaluate(self, case: EvalCase) -> Score:
        if case.input["country"] == "Japan":
            raise ValueError("cannot score Japan")
        return Score("boom", 1.0, "NUMERIC")


def test_an_evaluator_that_raises_fails_the_item_and_keeps_its_other_scores() -> None:
    evaluators: list[Evaluator] = [build_evaluator(EVALUATORS[0]), Boom()]
    result = go(spec(), dataset(("France", "Japan")), evaluators=evaluators)
    japan = result.items[1]
    assert japan.error == "evaluator error: boom: ValueError: cannot score Japan"
    assert (japan.output, [s.name for s in japan.scores]) == ("Tokyo", ["exact_match"])
    boom, exact = result.metrics["boom"], result.metrics["exact_match"]
    assert (boom.n, boom.missing, boom.mean) == (1, 1, 0.5)
    assert (exact.n, exact.missing, exact.mean) == (1, 1, 0.5)  # a failed item counts as failed everywhere


def garbage_task(input: Mapping[str, Any]) -> int:
    """Return a number where the runner needs text."""
    return 42


async def raising_task(input: Mapping[str, Any]) -> str:
    """Fail like buggy user code."""
    raise KeyError("question")


def test_a_task_returning_a_non_string_or_raising_is_a_task_error() -> None:
    garbage = go(spec(task="tests.test_runner:garbage_task"), dataset(("France",)))
    assert garbage.items[0].error == "task error: returned int, expected a string"
    raising = go(spec(task="tests.test_runner:raising_task"), dataset(("France",)))
    assert raising.items[0].error == "task error: KeyError: 'question'"


def test_a_missing_variable_fails_the_item_without_calling_the_model() -> None:
    provider = Recording()
    data = DatasetSpec("capitals", "x.yaml", items=(DatasetItem("nameless", {"county": "France"}, "Paris"),))
    result = go(spec(), data, provider=provider)
    assert (result.items[0].error, provider.requests) == ("missing variable: country", [])


def test_cancelling_a_run_returns_the_items_recorded_so_far() -> None:
    async def main() -> ExperimentResult:
        slow = spec(concurrency=2, model_options={"latency_ms": 50})
        task: asyncio.Task[ExperimentResult]

        def progress(done: int, total: int) -> None:
            if done == 2:
                task.cancel()

        task = asyncio.create_task(
            run_experiment(subject(), dataset(COUNTRIES * 2), slow, tracer=NullTracer(), progress=progress)
        )
        return await task

    result = asyncio.run(main())
    assert result.stopped == "interrupted"
    assert [i.error for i in result.items] == [None, None] + ["not run: interrupted"] * 6
    assert [i.output for i in result.items[:2]] == ["Paris", "Berlin"]


def test_ctrl_c_in_the_sync_wrapper_returns_a_partial_result() -> None:
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        if done == 3:
            raise KeyboardInterrupt

    result = go(spec(concurrency=1), dataset(COUNTRIES * 2), progress=progress)
    assert result.stopped == "interrupted"
    assert [i.error is None for i in result.items] == [True] * 3 + [False] * 5
    assert seen == [(1, 8), (2, 8), (3, 8), (8, 8)]


def test_progress_reports_each_finished_item() -> None:
    seen: list[tuple[int, int]] = []
    go(spec(concurrency=2), progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4), (4, 4)]


def test_bad_settings_fail_before_any_item_runs() -> None:
    with pytest.raises(ExperimentError, match="unknown task 'summarise'; known tasks: generate, rag"):
        go(spec(task="summarise"))
    with pytest.raises(ExperimentError, match="concurrency must be >= 1"):
        go(spec(concurrency=0))
    with pytest.raises(ModelError, match="unknown option"):
        go(spec(model_options={"latency": 5}))
