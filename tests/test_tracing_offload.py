"""LangfuseTracer's worker process: the traces it replays equal the in-process ones, timing kept, failures safe."""

from __future__ import annotations

import gc
import logging
import os
import signal
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from promptops.model import DatasetItem, DatasetSpec, EvaluatorSpec, ExperimentSpec, RenderedPrompt
from promptops.runner import RunHooks, run
from promptops.tracing import Subject
from promptops.tracing.base import RunInfo
from promptops.tracing.langfuse import LangfuseTracer, make_mask
from tests.langfuse_double.server import LangfuseDouble
from tests.langfuse_double.spans import Span
from tests.test_tracing_langfuse import ITEMS, KB, PROMPT

RUN_SPECIFIC = ("langfuse.experiment.item.root_observation_id",)


def rag(tracer: LangfuseTracer, run_id: str, **options: Any) -> Any:
    """Run the rag task on two items with a fixed run id and name, so two tracers' traces can be compared."""
    rendered = RenderedPrompt("support", "text", PROMPT, {"temperature": 0}, (), (), "sha256:s", "prompts/support.yaml")
    data = DatasetSpec("support", "support.yaml", items=ITEMS, knowledge_base=KB)
    evaluators = (EvaluatorSpec("groundedness", "groundedness"), EvaluatorSpec("resolved", "contains"))
    spec = ExperimentSpec("support", task="rag", evaluators=evaluators, seed=9, concurrency=2, **options)
    hooks = RunHooks(run_id=run_id, run_name=f"support - version 4 - {run_id}")
    subject = Subject(rendered, 4, "version 4")
    return run(subject, data, spec, tracer=tracer, metadata={"git_commit": "abc123"}, hooks=hooks)


def shape(spans: list[Span]) -> list[tuple[Any, ...]]:
    """Return what a trace says, without its ids, times and stack traces: comparable across two runs."""
    names = {s.span_id: s.name for s in spans}
    shaped = []
    for s in spans:
        attributes = {k: v for k, v in s.attributes.items() if k not in RUN_SPECIFIC}
        events = [(name, {k: v for k, v in a.items() if k != "exception.stacktrace"}) for name, a in s.events]
        parent = names.get(s.parent_span_id or "")
        shaped.append((s.name, parent, attributes, s.status_code, s.status_message, events, s.scope_name))
    return sorted(shaped, key=repr)


def traces(double: LangfuseDouble, run_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """Return the run's traces by item id, each shaped, with the scores on its root."""
    spans: dict[str, list[Span]] = defaultdict(list)
    for span in double.spans():
        if span.attributes.get("langfuse.experiment.id") == run_id:
            spans[span.trace_id].append(span)
    scores: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for score in double.scores():
        if "traceId" in score:
            scores[score["traceId"]].append((score["name"], score["value"], score["dataType"], score.get("comment")))
    by_item = {}
    for trace_id, trace in spans.items():
        root = next(s for s in trace if s.parent_span_id is None)
        assert all(s.attributes[RUN_SPECIFIC[0]] == root.span_id for s in trace)
        by_item[root.attributes["langfuse.experiment.item.id"]] = [*shape(trace), sorted(scores[trace_id])]
    return by_item


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"model_options": {"failure_rate": 1}, "retries": 0},
        {"model_options": {"timeout_rate": 1}, "item_timeout_s": 0.2},
    ],
    ids=["answered", "model error", "timeout"],
)
def test_the_worker_sends_what_the_in_process_client_sends(
    langfuse_double: LangfuseDouble, options: dict[str, Any]
) -> None:
    client = langfuse_double.client(mask=make_mask(()))
    in_process = LangfuseTracer(client, offload=False)
    rag(in_process, "0000000000000001", **options)
    offloaded = LangfuseTracer(client)
    assert offloaded._worker is not None
    result = rag(offloaded, "0000000000000002", **options)
    expected = traces(langfuse_double, "0000000000000001")
    replayed = traces(langfuse_double, "0000000000000002")
    assert sorted(replayed) == sorted(expected) == ["refunds", "shipping"]
    for item_id, trace in replayed.items():
        assert trace == [
            tuple(replace_run(part) for part in span) if isinstance(span, tuple) else span for span in expected[item_id]
        ]
    run_scores = sorted(s["name"] for s in langfuse_double.scores() if s.get("datasetRunId") == result.run_id)
    assert run_scores == sorted(
        s["name"] for s in langfuse_double.scores() if s.get("datasetRunId") == "0000000000000001"
    )


def failing_mask(*, data: Any, **_: Any) -> Any:
    """A mask that breaks: the SDK then sends its fallback text instead of the value."""
    raise RuntimeError("mask broke")


def test_a_failing_mask_gets_the_sdks_fallback_on_the_loop_too(langfuse_double: LangfuseDouble) -> None:
    client = langfuse_double.client(mask=failing_mask)
    rag(LangfuseTracer(client, offload=False), "0000000000000001")
    rag(LangfuseTracer(client), "0000000000000002")
    expected, replayed = traces(langfuse_double, "0000000000000001"), traces(langfuse_double, "0000000000000002")
    assert replayed == {item: [replace_run(span) for span in trace] for item, trace in expected.items()}
    root = next(
        s
        for s in langfuse_double.spans(name="experiment-item")
        if s.attributes["langfuse.experiment.id"] == "0000000000000002"
    )
    assert root.attributes["langfuse.observation.input"] == "<fully masked due to failed mask function>"


def replace_run(value: Any) -> Any:
    """Return `value` with the first run's id and name turned into the second's."""
    if isinstance(value, dict):
        return {k: replace_run(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(replace_run(v) for v in value)
    if isinstance(value, str):
        return value.replace("0000000000000001", "0000000000000002")
    return value


def test_replayed_spans_keep_their_real_times_and_nesting(langfuse_double: LangfuseDouble) -> None:
    tracer = LangfuseTracer(langfuse_double.client())
    before = time.time_ns()
    result = rag(tracer, "0000000000000003", model_options={"latency_ms": 40})
    after = time.time_ns()
    for item in result.items:
        spans = {s.name: s for s in langfuse_double.spans(item.trace_id)}
        root, generation = spans["experiment-item"], spans["prompt-managed-call"]
        assert before <= root.start_time_unix_nano <= generation.start_time_unix_nano
        assert generation.end_time_unix_nano <= root.end_time_unix_nano <= after
        assert generation.end_time_unix_nano - generation.start_time_unix_nano >= 40_000_000
        assert spans["retrieve"].end_time_unix_nano <= spans["rank"].start_time_unix_nano


def test_observation_ids_on_the_loop_are_the_span_ids_langfuse_gets(langfuse_double: LangfuseDouble) -> None:
    tracer = LangfuseTracer(langfuse_double.client())
    rendered = RenderedPrompt("p", "text", "Hi", {}, (), (), "sha256:p", "p.yaml")
    info = RunInfo(
        "00000000000000aa", "run", Subject(rendered, None, "working tree"), "d", "m", 1, "generate", 1, "now"
    )
    tracer.start_run(info)
    with tracer.item(info, DatasetItem("a", {"x": "y"}, None), 0) as trace:
        with trace.span("outer") as outer, trace.span("inner") as inner:
            ids = (outer.id, inner.id)
    tracer.flush()
    spans = {s.name: s for s in langfuse_double.spans(trace.trace_id)}
    assert (spans["outer"].span_id, spans["inner"].span_id) == ids
    assert spans["inner"].parent_span_id == spans["outer"].span_id
    assert spans["outer"].parent_span_id == spans["experiment-item"].span_id


def test_the_secret_key_is_not_in_the_workers_command_line(langfuse_double: LangfuseDouble) -> None:
    tracer = LangfuseTracer(langfuse_double.client())
    assert tracer._worker is not None
    pid = tracer._worker._channel.process.pid
    assert langfuse_double.secret_key.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()


def test_a_command_that_traced_nothing_does_not_wait_for_the_worker(langfuse_double: LangfuseDouble) -> None:
    # A sync with everything in sync builds a tracer and flushes it: that must not wait for the child to start.
    tracer = LangfuseTracer(langfuse_double.client())
    assert tracer._worker is not None
    tracer.flush()
    assert tracer._worker._flushes == 0  # no flush was asked of the child
    rag(tracer, "0000000000000005")
    assert tracer._worker._flushes == 1  # the run's own flush: the items were delivered
    assert any(s.attributes.get("langfuse.experiment.id") == "0000000000000005" for s in langfuse_double.spans())
    tracer.flush()
    assert tracer._worker._flushes == 1  # nothing new since


def test_a_dead_worker_costs_its_traces_with_a_warning_not_the_run(
    langfuse_double: LangfuseDouble, caplog: pytest.LogCaptureFixture
) -> None:
    tracer = LangfuseTracer(langfuse_double.client())
    assert tracer._worker is not None
    os.kill(tracer._worker._channel.process.pid, signal.SIGKILL)
    with caplog.at_level(logging.WARNING, logger="promptops.tracing"):
        result = rag(tracer, "0000000000000004")
    assert [i.error for i in result.items] == [None, None]
    assert [s for s in langfuse_double.spans() if s.attributes.get("langfuse.experiment.id") == result.run_id] == []
    assert [r.getMessage() for r in caplog.records] == [
        "Langfuse tracing worker stopped (exit code -9): the traces of up to 2 items were not delivered"
    ]
    tracer.flush()  # nothing more to report, and no hang
    assert len(caplog.records) == 1


def test_the_worker_is_out_of_reach_of_ctrl_c_and_exits_with_its_tracer(langfuse_double: LangfuseDouble) -> None:
    tracer = LangfuseTracer(langfuse_double.client())
    assert tracer._worker is not None
    process = tracer._worker._channel.process
    assert os.getsid(process.pid) != os.getsid(0)  # a terminal's Ctrl-C goes to the run's process group only
    rag(tracer, "0000000000000005")
    del tracer
    gc.collect()
    assert process.wait(timeout=30) == 0
    assert len(langfuse_double.spans(name="experiment-item")) == 2


class Unpicklable:
    """An output object that refuses pickling (a lock inside, say), as user code may hand a span."""

    def __init__(self) -> None:
        self.answer = "42"

    def __reduce__(self) -> Any:
        raise TypeError("cannot pickle")


def test_an_output_that_does_not_pickle_arrives_as_the_sdk_serialises_it(langfuse_double: LangfuseDouble) -> None:
    client = langfuse_double.client()
    outputs = []
    for offload in (False, True):
        tracer = LangfuseTracer(client, offload=offload)
        rendered = RenderedPrompt("p", "text", "Hi", {}, (), (), "sha256:p", "p.yaml")
        subject = Subject(rendered, None, "working tree")
        info = RunInfo(f"00000000000000b{offload:d}", "run", subject, "d", "m", 1, "generate", 1, "now")
        with tracer.item(info, DatasetItem("a", {"x": "y"}, None), 0) as trace:
            with trace.span("odd") as span:
                span.update(output=Unpicklable())
        tracer.flush()
        (odd,) = langfuse_double.spans(trace.trace_id, name="odd")
        outputs.append(odd.attributes["langfuse.observation.output"])
    assert outputs[1] == outputs[0] == '{"answer": "42"}'
