"""The experiment runner: every planned item of a dataset through a task and the evaluators, nothing dropped.

Ours rather than the SDK's `run_experiment`, which omits failed items from its result (REFERENCE §4.3):
here each planned (item, repeat) ends as an ItemResult, a failure carrying its reason, because the gate
must count failures. Bounded concurrency, retries with backoff, per-item and whole-run time limits and a
failure threshold keep a run finite; the tracer records it (nowhere, SQLite or Langfuse).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from promptops.errors import ExperimentError, ModelError
from promptops.evaluators import EvalCase, Evaluator, Score, build_evaluator
from promptops.evaluators.aggregate import MetricSummary, error_rate, summarize, summarize_latency
from promptops.llm import Completion, LLMRequest, Provider, get_provider
from promptops.model import DatasetItem, DatasetSpec, ExperimentSpec
from promptops.results import EVALUATOR_ERROR, ExperimentResult, ItemResult
from promptops.tasks import MissingVariable, Task, TaskContext, TaskResult, get_task
from promptops.tracing.base import ItemTrace, RunInfo, Subject, Tracer, new_id

__all__ = ["ExperimentRun", "Subject", "backoff_s", "run", "run_experiment"]

BACKOFF_BASE_S = 0.05
BACKOFF_CAP_S = 2.0
MIN_ITEMS_BEFORE_STOP = 5  # a run is not stopped on the say-so of its first one or two items
INTERRUPTED = "interrupted"
FAILURE_THRESHOLD = "failure threshold"
TIME_LIMIT = "time limit"
RUN_TIME_LIMIT_REASON = "timeout: run time limit reached"
NOT_RUN_REASONS: Mapping[str, str] = {
    INTERRUPTED: "not run: interrupted",
    FAILURE_THRESHOLD: "not run: failure threshold reached",
    TIME_LIMIT: RUN_TIME_LIMIT_REASON,
}

Progress = Callable[[int, int], None]


def backoff_s(attempt: int, *key: object) -> float:
    """Return the wait before retry `attempt` (1-based): 0.05 s doubling to a 2 s cap, times a jitter in [0.5, 1).

    The jitter is a hash of `key` (seed, item, repeat, attempt), so a rerun waits exactly as long.
    """
    digest = hashlib.sha256("\x1f".join(map(str, (*key, attempt))).encode()).digest()
    jitter = int.from_bytes(digest[:8], "big") / 2**64
    return min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1)) * (0.5 + jitter / 2)


@dataclass
class _Attempt:
    """What one item has produced so far; mutable because the task, retries and evaluators all add to it."""

    output: str | None = None
    error: str | None = None
    scores: list[Score] = field(default_factory=list)
    latency_s: float | None = None
    model_latency_s: float = 0.0  # the completions' own latencies, summed (simulated by the mock)
    input_tokens: int = 0
    output_tokens: int = 0

    def fail(self, reason: str) -> None:
        """Keep the first reason: later ones are consequences."""
        self.error = self.error or reason


def _retrieve_exception(task: asyncio.Task[None]) -> None:
    # A Ctrl-C raised inside an item task leaves its exception unretrieved; the "never retrieved" report
    # then runs from the garbage collector at any later moment (once inside ast.parse: a CPython 3.11 crash).
    if not task.cancelled():
        task.exception()


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
    ) -> None:
        if spec.concurrency < 1 or spec.repeats < 0 or spec.retries < 0:
            raise ExperimentError("concurrency must be >= 1, repeats and retries >= 0")
        self.subject, self.dataset, self.spec, self.tracer = subject, dataset, spec, tracer
        self.task: Task = get_task(spec.task)  # unknown tasks and models fail here, before any item runs
        self.provider = provider or get_provider(spec.model, spec.model_options)
        built = evaluators if evaluators is not None else [build_evaluator(e) for e in spec.evaluators]
        self.evaluators: tuple[Evaluator, ...] = tuple(built)
        self.progress = progress
        # Repeat-major, so a run stopped early has covered as many distinct items as it could.
        self.plan = [(item, repeat) for repeat in range(spec.repeats) for item in dataset.items]
        self.results: dict[int, ItemResult] = {}
        self.failed = 0
        self._scheduled = 0
        self.stopped: str | None = None
        self._deadline = float("inf")
        self._in_flight: set[asyncio.Task[None]] = set()
        self._result: ExperimentResult | None = None
        started = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        self.info = RunInfo(
            run_id=new_id(8),
            name=f"{subject.rendered.name} - {subject.description} - {started}",
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
        self.tracer.start_run(self.info)
        try:
            await self._schedule()
        except asyncio.CancelledError:
            self.stopped = INTERRUPTED
            await self._cancel_in_flight()
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()  # we handled it: the caller gets a result, not a CancelledError
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
        if self.progress is not None:
            self.progress(len(self.plan), len(self.plan))
        return self._result

    async def _schedule(self) -> None:
        slots = asyncio.Semaphore(self.spec.concurrency)
        try:
            for index, (item, repeat) in enumerate(self.plan):
                await slots.acquire()
                if self._should_stop():
                    slots.release()
                    break
                task = asyncio.create_task(self._run_item(index, item, repeat))
                self._scheduled += 1
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
                task.add_done_callback(_retrieve_exception)
                task.add_done_callback(lambda _: slots.release())
            while self._in_flight:
                await asyncio.gather(*self._in_flight)
        finally:
            await self._cancel_in_flight()  # only left over when something raised

    def _should_stop(self) -> bool:
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
            remaining = self._deadline - asyncio.get_running_loop().time()
            limited_by_run = remaining < self.spec.item_timeout_s
            try:
                async with asyncio.timeout(min(self.spec.item_timeout_s, max(remaining, 0.0))):
                    await self._task_and_evaluators(item, repeat, trace, attempt)
            except TimeoutError:
                limit = f"timeout: item took longer than {self.spec.item_timeout_s:g} s"
                attempt.fail(RUN_TIME_LIMIT_REASON if limited_by_run else limit)
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

    async def _task_and_evaluators(self, item: DatasetItem, repeat: int, trace: ItemTrace, attempt: _Attempt) -> None:
        async def complete(request: LLMRequest) -> Completion:
            return await self._complete(request, attempt, (self.spec.seed, item.id, repeat))

        ctx = TaskContext(self.subject, item, repeat, self.spec, self.dataset, trace, complete)
        started = time.perf_counter()
        try:
            produced = await self.task(ctx)
        except MissingVariable as exc:
            return attempt.fail(f"missing variable: {exc}")
        except ModelError as exc:
            return attempt.fail(f"model error: {exc}")
        except Exception as exc:  # the task is user code or calls it: any error fails this item only
            return attempt.fail(f"task error: {type(exc).__name__}: {exc}")
        output = produced.output if isinstance(produced, TaskResult) else produced
        if not isinstance(output, str):
            return attempt.fail(f"task error: returned {type(output).__name__}, expected a string")
        # A model that simulates its latency (mock-llm-v1) reports it; wall time would differ run to run and
        # make latency_p50/p95 (and a gate on them) flaky where the docs promise the same numbers every run.
        simulated = getattr(self.provider, "simulated_latency", False)
        attempt.output = output
        attempt.latency_s = attempt.model_latency_s if simulated else time.perf_counter() - started
        context = produced.context if isinstance(produced, TaskResult) else None
        await self._evaluate(item, output, context, trace, attempt)

    async def _complete(self, request: LLMRequest, attempt: _Attempt, key: tuple[object, ...]) -> Completion:
        for number in range(self.spec.retries + 1):
            try:
                completion = await self.provider.complete(replace(request, attempt=number))
            except ModelError as exc:
                if not exc.retriable or number == self.spec.retries:
                    if number == 0:
                        raise
                    raise ModelError(f"{exc} (gave up after {number + 1} attempts)", retriable=exc.retriable) from exc
                await asyncio.sleep(backoff_s(number + 1, *key))
                continue
            attempt.input_tokens += completion.input_tokens
            attempt.output_tokens += completion.output_tokens
            attempt.model_latency_s += completion.latency_s
            return completion
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _evaluate(
        self, item: DatasetItem, output: str, context: str | None, trace: ItemTrace, attempt: _Attempt
    ) -> None:
        case = EvalCase(item.input, output, item.expected_output, item.metadata, context)
        for evaluator in self.evaluators:
            try:
                score = await evaluator.evaluate(case)
                if not isinstance(score, Score):
                    raise TypeError(f"returned {type(score).__name__}, expected a Score")
            except Exception as exc:  # evaluators run user code too; the item records which one failed
                attempt.fail(f"{EVALUATOR_ERROR}{evaluator.name}: {type(exc).__name__}: {exc}")
                continue
            attempt.scores.append(score)
            trace.score(score.name, score.value, score.data_type, score.comment)

    def _record(self, index: int, result: ItemResult) -> None:
        self.results[index] = result
        self.failed += result.failed
        planned, done = len(self.plan), len(self.results)
        enough = done >= min(MIN_ITEMS_BEFORE_STOP, planned)
        unscheduled = self._scheduled < planned  # with nothing left to skip there is nothing to stop
        if self.stopped is None and enough and unscheduled and self.failed / planned > self.spec.max_failure_rate:
            self.stopped = FAILURE_THRESHOLD
        if self.progress is not None:
            self.progress(done, planned)

    def result(self) -> ExperimentResult:
        """Return the ExperimentResult of every planned item: finished ones, the rest failed with why."""
        items = tuple(self.results.get(i) or self._not_run(i) for i in range(len(self.plan)))
        metrics, problems = self._metrics(items)
        return ExperimentResult(
            prompt=self.subject.rendered.name,
            subject=self.subject.description,
            version=self.subject.version,
            dataset=self.dataset.name,
            model=self.spec.model,
            seed=self.spec.seed,
            items=items,
            metrics=metrics,
            run_id=self.info.run_id,
            stopped=self.stopped,
            input_tokens=sum(i.input_tokens for i in items),
            output_tokens=sum(i.output_tokens for i in items),
            extra={
                "task": self.spec.task,
                "planned": len(self.plan),
                **({"metric_errors": problems} if problems else {}),
            },
        )

    def _not_run(self, index: int) -> ItemResult:
        item, repeat = self.plan[index]
        reason = NOT_RUN_REASONS[self.stopped or INTERRUPTED]
        return ItemResult(item.id, repeat, item.input, item.expected_output, output=None, error=reason)

    def _metrics(self, items: Sequence[ItemResult]) -> tuple[dict[str, MetricSummary], dict[str, str]]:
        metrics: dict[str, MetricSummary] = {}
        problems: dict[str, str] = {}
        for ev in self.evaluators:
            scores = [None if i.failed else i.score(ev.name) for i in items]
            try:
                metrics[ev.name] = summarize(
                    ev.name, scores, mapping=ev.mapping, threshold=ev.threshold, data_type=ev.data_type
                )
            except ValueError as exc:  # mixed types or an unmapped category: report it, keep the run
                problems[ev.name] = str(exc)
        p50, p95 = summarize_latency([None if i.failed else i.latency_s for i in items])
        metrics.update(latency_p50=p50, latency_p95=p95)
        metrics["error_rate"] = error_rate(sum(i.failed for i in items), len(items))
        return metrics, problems


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
) -> ExperimentResult:
    """Run `spec` for `subject` on every item of `dataset`; every planned item comes back as an ItemResult."""
    experiment = ExperimentRun(
        subject, dataset, spec, tracer=tracer, provider=provider, evaluators=evaluators,
        progress=progress, metadata=metadata,
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
) -> ExperimentResult:
    """Run an experiment to completion; Ctrl-C returns the partial result with stopped="interrupted"."""
    experiment = ExperimentRun(
        subject, dataset, spec, tracer=tracer, provider=provider, evaluators=evaluators,
        progress=progress, metadata=metadata,
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
