"""The experiment runner: every planned item of a dataset through a task and the evaluators, nothing dropped.

Ours rather than the SDK's `run_experiment`, which omits failed items from its result (REFERENCE §4.3):
here each planned (item, repeat) ends as an ItemResult, a failure carrying its reason, because the gate
must count failures. Bounded concurrency, retries with backoff, per-item and whole-run time limits and a
failure threshold keep a run finite; the tracer records it (nowhere, SQLite or Langfuse).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from promptops.cost import CallStats
from promptops.errors import ExperimentError, ModelError
from promptops.evaluators import EvalCase, Evaluator, Score, build_evaluator
from promptops.llm import Completion, LLMRequest, Provider
from promptops.model import DatasetItem, DatasetSpec, ExperimentSpec
from promptops.model_calls import CURRENT_ITEM, ItemScope, ModelSession, RunCalls, backoff_s
from promptops.results import EVALUATOR_ERROR, ExperimentResult, ItemResult
from promptops.run_result import (
    BUDGET,
    FAILURE_THRESHOLD,
    INTERRUPTED,
    RUN_TIME_LIMIT_REASON,
    TIME_LIMIT,
    experiment_result,
)
from promptops.tasks import MissingVariable, Task, TaskContext, TaskResult, get_task
from promptops.tracing.base import ItemTrace, RunInfo, Subject, Tracer, new_id
from promptops.usercode import being_cancelled, ctrl_c_cancels, describe, retrieve_exception

__all__ = ["BUDGET", "ExperimentRun", "RunHooks", "Subject", "backoff_s", "run", "run_experiment"]

MIN_ITEMS_BEFORE_STOP = 5  # a run is not stopped on the say-so of its first one or two items

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RunHooks:
    """Ways to run part of a plan (a shard, a resume, a join of shards); the default runs all of it.

    promptops/sharded.py builds these: the runner itself knows nothing of shards or results files.
    """

    pairs: Callable[[str, int], bool] | None = None  # plan only the (item id, repeat) pairs this accepts
    done: Mapping[tuple[str, int], ItemResult] = field(default_factory=dict)  # finished before: kept, not run
    on_result: Callable[[ItemResult], None] | None = None  # called as each pair finishes, in finishing order
    run_id: str | None = None  # fixed, so the shards of one run share their experiment id and name
    run_name: str | None = None
    stopped: str | None = None  # a joined run: why one of its shards stopped early
    calls: CallStats | None = None  # a joined run: the model calls its shards made (it makes none itself)
    on_end: Callable[[ExperimentResult], None] | None = None  # called once with the run's result (also interrupted)


@dataclass
class _Attempt:
    """What one item has produced so far; mutable because the task, retries and evaluators all add to it."""

    output: str | None = None
    error: str | None = None
    scores: list[Score] = field(default_factory=list)
    latency_s: float | None = None
    model_latency_s: float = 0.0  # the completions' own latencies, summed (simulated by the mock, or recorded)
    calls: int = 0
    live_calls: int = 0  # calls a model answered (not a recording)
    input_tokens: int = 0
    output_tokens: int = 0

    def fail(self, reason: str) -> None:
        """Keep the first reason: later ones are consequences."""
        self.error = self.error or reason


class ExperimentRun:
    """One run in progress: the plan, the results so far, and why it stopped (if it did)."""

    def __init__(
        self,
        subject: Subject,
        dataset: DatasetSpec,
        spec: ExperimentSpec,
        *,
        tracer: Tracer,
        provider: Provider | None = None,
        evaluators: Sequence[Evaluator] | None = None,
        progress: Progress | None = None,
        metadata: Mapping[str, str] | None = None,
        calls: RunCalls | None = None,
        hooks: RunHooks | None = None,
    ) -> None:
        if spec.concurrency < 1 or spec.repeats < 0 or spec.retries < 0:
            raise ExperimentError("concurrency must be >= 1, repeats and retries >= 0")
        self.subject, self.dataset, self.spec, self.tracer = subject, dataset, spec, tracer
        self.task: Task = get_task(spec.task)  # unknown tasks and models fail here, before any item runs
        rendered = subject.rendered
        # Recordings, cost, budgets and rate limits live in the calls gateway; without one, calls go straight on.
        self.calls = calls or ModelSession().run_calls(rendered.name, rendered.content_hash, spec, provider=provider)
        built = (
            evaluators
            if evaluators is not None
            else [build_evaluator(e, judge_provider=self.calls.judge_provider(e.name)) for e in spec.evaluators]
        )
        self.evaluators: tuple[Evaluator, ...] = tuple(built)
        self.progress = progress
        # Repeat-major, so a run stopped early has covered as many distinct items as it could.
        self.plan = [(item, repeat) for repeat in range(spec.repeats) for item in dataset.items]
        hooks = hooks or RunHooks()
        if hooks.pairs is not None:
            self.plan = [(item, repeat) for item, repeat in self.plan if hooks.pairs(item.id, repeat)]
        self._on_result, self._on_end, self._calls_made = hooks.on_result, hooks.on_end, hooks.calls
        kept = ((i, hooks.done.get((item.id, repeat))) for i, (item, repeat) in enumerate(self.plan))
        self.results: dict[int, ItemResult] = {i: result for i, result in kept if result is not None}
        self.failed = sum(r.failed for r in self.results.values())
        self._scheduled = len(self.results)
        self.stopped: str | None = hooks.stopped
        self._deadline = float("inf")
        self._in_flight: set[asyncio.Task[None]] = set()
        self._ctrl_c_cancels = False
        self._main: asyncio.Task[object] | None = None
        self._result: ExperimentResult | None = None
        started = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        self.info = RunInfo(
            run_id=hooks.run_id or new_id(8),
            name=hooks.run_name or f"{subject.rendered.name} - {subject.description} - {started}",
            subject=subject,
            dataset=dataset.name,
            model=spec.model,
            seed=spec.seed,
            task=spec.task,
            planned=len(self.plan),
            started_at=started,
            metadata=dict(metadata or {}),
        )

    async def execute(self) -> ExperimentResult:
        """Run every planned item; a cancellation returns what was recorded so far, stopped "interrupted"."""
        self._deadline = asyncio.get_running_loop().time() + self.spec.total_timeout_s
        self._ctrl_c_cancels = ctrl_c_cancels()
        self._main = asyncio.current_task()
        self.tracer.start_run(self.info)
        try:
            await self._schedule()
        except asyncio.CancelledError:
            self.stopped = INTERRUPTED
            await self._cancel_in_flight()
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()  # we handled it: the caller gets a result, not a CancelledError
        await self.calls.aclose()
        result = self.finish()
        await asyncio.to_thread(self.tracer.flush)  # Langfuse's flush blocks on the network
        return result

    def finish(self) -> ExperimentResult:
        """Return the final result (unfinished items marked with why), recorded with the tracer once."""
        if self._result is not None:
            return self._result
        if self.stopped is None and len(self.results) < len(self.plan):
            self.stopped = INTERRUPTED  # called from outside a live run: Ctrl-C reached the sync wrapper
        self._result = self.result()
        self.tracer.finish_run(self.info, self._result)
        if self._on_end is not None:
            self._on_end(self._result)
        if self.progress is not None:
            self.progress(len(self.plan), len(self.plan))
        return self._result

    async def _schedule(self) -> None:
        slots = asyncio.Semaphore(self.spec.concurrency)
        try:
            for index, (item, repeat) in enumerate(self.plan):
                if index in self.results:
                    continue  # finished before (hooks.done)
                await slots.acquire()
                if self._should_stop():
                    slots.release()
                    break
                task = asyncio.create_task(self._run_item(index, item, repeat))
                self._scheduled += 1
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
                task.add_done_callback(retrieve_exception)
                task.add_done_callback(lambda _: slots.release())
            while self._in_flight:
                await asyncio.gather(*self._in_flight)
        finally:
            await self._cancel_in_flight()  # only left over when something raised

    def _should_stop(self) -> bool:
        if self.stopped is None and self.calls.budget_stop is not None:
            self.stopped = BUDGET
        if self.stopped is None and asyncio.get_running_loop().time() >= self._deadline:
            self.stopped = TIME_LIMIT
        return self.stopped is not None

    async def _cancel_in_flight(self) -> None:
        pending = list(self._in_flight)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _run_item(self, index: int, item: DatasetItem, repeat: int) -> None:
        with self.tracer.item(self.info, item, repeat) as trace:
            attempt = _Attempt()
            loop = asyncio.get_running_loop()
            remaining = self._deadline - loop.time()
            limited_by_run = remaining < self.spec.item_timeout_s
            scope = ItemScope(item.id, repeat, (self.spec.seed, item.id, repeat))
            token = CURRENT_ITEM.set(scope)  # this item's task only: each item runs in a task of its own
            try:
                async with asyncio.timeout(min(self.spec.item_timeout_s, max(remaining, 0.0))) as clock:

                    def pause() -> Callable[[], None]:
                        # Waiting out a rate limit is not the model taking long: the item's clock stops, the run's not.
                        nonlocal limited_by_run
                        when, before = clock.when(), limited_by_run
                        left = None if when is None else when - loop.time()
                        limited_by_run = True  # while paused, only the run's deadline can fire
                        clock.reschedule(self._deadline)

                        def resume() -> None:
                            nonlocal limited_by_run
                            limited_by_run = before
                            if left is not None:
                                limited_by_run = before or loop.time() + left >= self._deadline
                                clock.reschedule(min(loop.time() + left, self._deadline))

                        return resume

                    scope.pause = pause
                    await self._task_and_evaluators(item, repeat, trace, attempt, scope)
            except TimeoutError:
                limit = f"timeout: item took longer than {self.spec.item_timeout_s:g} s"
                attempt.fail(RUN_TIME_LIMIT_REASON if limited_by_run else limit)
            finally:
                CURRENT_ITEM.reset(token)
            result = ItemResult(
                item_id=item.id,
                repeat=repeat,
                input=item.input,
                expected_output=item.expected_output,
                output=attempt.output,
                error=attempt.error,
                scores=tuple(attempt.scores),
                latency_s=attempt.latency_s,
                input_tokens=attempt.input_tokens,
                output_tokens=attempt.output_tokens,
                trace_id=trace.trace_id,
            )
            trace.finish(result)
        self._record(index, result)

    async def _task_and_evaluators(
        self, item: DatasetItem, repeat: int, trace: ItemTrace, attempt: _Attempt, scope: ItemScope
    ) -> None:
        async def complete(request: LLMRequest) -> Completion:
            return await self._complete(request, attempt, scope)

        ctx = TaskContext(self.subject, item, repeat, self.spec, self.dataset, trace, complete)
        started = time.perf_counter()
        try:
            produced = await self.task(ctx)
        except MissingVariable as exc:
            return attempt.fail(f"missing variable: {exc}")
        except ModelError as exc:
            return attempt.fail(f"model error: {exc}")
        except BaseException as exc:  # the task is user code or calls it: anything it raises fails this item only
            if self._ours(exc):
                raise
            return attempt.fail(f"task error: {describe(exc)}")
        output = produced.output if isinstance(produced, TaskResult) else produced
        if not isinstance(output, str):
            return attempt.fail(f"task error: returned {type(output).__name__}, expected a string")
        # A model that simulates its latency (mock-llm-v1) reports it; wall time would differ run to run and
        # make latency_p50/p95 (and a gate on them) flaky where the docs promise the same numbers every run.
        # A replayed item likewise reports the latency it was recorded with, so a replay gives the same numbers.
        simulated = self.calls.simulated_latency or (attempt.calls > 0 and attempt.live_calls == 0)
        attempt.output = output
        attempt.latency_s = attempt.model_latency_s if simulated else time.perf_counter() - started
        context = produced.context if isinstance(produced, TaskResult) else None
        await self._evaluate(item, output, context, trace, attempt)

    async def _complete(self, request: LLMRequest, attempt: _Attempt, scope: ItemScope) -> Completion:
        completion = await self.calls.complete(request, scope)
        attempt.input_tokens += completion.input_tokens
        attempt.output_tokens += completion.output_tokens
        attempt.model_latency_s += completion.latency_s
        attempt.calls += 1
        attempt.live_calls += not completion.replayed
        return completion

    async def _evaluate(
        self, item: DatasetItem, output: str, context: str | None, trace: ItemTrace, attempt: _Attempt
    ) -> None:
        case = EvalCase(item.input, output, item.expected_output, item.metadata, context)
        for evaluator in self.evaluators:
            try:
                score = await evaluator.evaluate(case)
                if not isinstance(score, Score):
                    raise TypeError(f"returned {type(score).__name__}, expected a Score")
            except BaseException as exc:  # evaluators run user code too; the item records which one failed
                if self._ours(exc):
                    raise
                attempt.fail(f"{EVALUATOR_ERROR}{evaluator.name}: {describe(exc)}")
                continue
            attempt.scores.append(score)
            trace.score(score.name, score.value, score.data_type, score.comment)

    def _ours(self, exc: BaseException) -> bool:
        """Return whether an exception out of user code is this run's own stop (time limit, Ctrl-C), to re-raise.

        asyncio.run turns the first Ctrl-C into a cancellation of the run (so `stopped` is set before any
        item is cancelled); only a second Ctrl-C raises KeyboardInterrupt, and only on the main thread.
        """
        if isinstance(exc, asyncio.CancelledError):
            return being_cancelled()
        if isinstance(exc, KeyboardInterrupt):
            interrupted = self.stopped == INTERRUPTED or (self._main is not None and self._main.cancelling() > 0)
            return interrupted or not self._ctrl_c_cancels
        return False

    def _record(self, index: int, result: ItemResult) -> None:
        self.results[index] = result
        self.failed += result.failed
        if self._on_result is not None:
            self._on_result(result)
        planned, done = len(self.plan), len(self.results)
        enough = done >= min(MIN_ITEMS_BEFORE_STOP, planned)
        unscheduled = self._scheduled < planned  # with nothing left to skip there is nothing to stop
        if self.stopped is None and enough and unscheduled and self.failed / planned > self.spec.max_failure_rate:
            self.stopped = FAILURE_THRESHOLD
        if self.progress is not None:
            self.progress(done, planned)

    def result(self) -> ExperimentResult:
        """Return the ExperimentResult of every planned item: finished ones, the rest failed with why."""
        return experiment_result(self, self._calls_made or self.calls.stats())


async def run_experiment(
    subject: Subject,
    dataset: DatasetSpec,
    spec: ExperimentSpec,
    *,
    tracer: Tracer,
    provider: Provider | None = None,
    evaluators: Sequence[Evaluator] | None = None,
    progress: Progress | None = None,
    metadata: Mapping[str, str] | None = None,
    calls: RunCalls | None = None,
    hooks: RunHooks | None = None,
) -> ExperimentResult:
    """Run `spec` for `subject` on every item of `dataset`; every planned item comes back as an ItemResult."""
    experiment = ExperimentRun(
        subject, dataset, spec, tracer=tracer, provider=provider, evaluators=evaluators,
        progress=progress, metadata=metadata, calls=calls, hooks=hooks,
    )  # fmt: skip
    return await experiment.execute()


def run(
    subject: Subject,
    dataset: DatasetSpec,
    spec: ExperimentSpec,
    *,
    tracer: Tracer,
    provider: Provider | None = None,
    evaluators: Sequence[Evaluator] | None = None,
    progress: Progress | None = None,
    metadata: Mapping[str, str] | None = None,
    calls: RunCalls | None = None,
    hooks: RunHooks | None = None,
) -> ExperimentResult:
    """Run an experiment to completion; Ctrl-C returns the partial result with stopped="interrupted"."""
    experiment = ExperimentRun(
        subject, dataset, spec, tracer=tracer, provider=provider, evaluators=evaluators,
        progress=progress, metadata=metadata, calls=calls, hooks=hooks,
    )  # fmt: skip
    try:
        asyncio.run(_without_result(experiment.execute()))
    except (KeyboardInterrupt, asyncio.CancelledError):
        experiment.stopped = experiment.stopped or INTERRUPTED
    return experiment.finish()


async def _without_result(running: Awaitable[object]) -> None:
    # asyncio.run's exit repr()s its main task, result included (signal.signal formats its old handler):
    # for a 100,000-item ExperimentResult that costs seconds, so the main task returns nothing.
    await running
