"""LocalTracer: the SQLite rows a run leaves behind, the schema and its migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from promptops.errors import ExperimentError
from promptops.model import DatasetItem, DatasetSpec, EvaluatorSpec, ExperimentSpec, KnowledgeDoc, RenderedPrompt
from promptops.results import ExperimentResult
from promptops.runner import run
from promptops.tracing import LocalTracer, Subject

PROMPT = "Answer using only the provided context.\n<context>\n{{context}}\n</context>\nQuestion: {{question}}"
KB = (
    KnowledgeDoc("kb-refunds", "Refunds are paid back within 5 business days.", "Refunds"),
    KnowledgeDoc("kb-shipping", "Standard shipping takes 3 to 5 business days.", "Shipping"),
)
ITEMS = (
    DatasetItem("refunds", {"question": "When are refunds paid back?"}, "5 business days", {"user_id": "u-1"}),
    DatasetItem("shipping", {"question": "How long does standard shipping take?"}, "3 to 5 business days"),
)
EVALUATORS = (
    EvaluatorSpec("groundedness", "groundedness"),
    EvaluatorSpec("user_feedback", "feedback"),
    EvaluatorSpec("resolved", "contains"),
)
SUBJECT = Subject(RenderedPrompt("support", "text", PROMPT, {}, (), (), "sha256:s", "prompts/support.yaml"), 4, "v4")


def rag_run(tracer: LocalTracer, items: tuple[DatasetItem, ...] = ITEMS, **changes: Any) -> ExperimentResult:
    """Run the rag task on the in-test knowledge base, recording with `tracer`."""
    data = DatasetSpec("support", "support.yaml", items=items, knowledge_base=KB)
    spec = ExperimentSpec("support", task="rag", evaluators=EVALUATORS, seed=9, concurrency=1, **changes)
    return run(SUBJECT, data, spec, tracer=tracer, metadata={"git_commit": "abc123"})


def test_a_run_row_holds_what_ran_how_it_ended_and_its_metrics(tmp_path: Path) -> None:
    tracer = LocalTracer(tmp_path / "runs.db")
    result = rag_run(tracer)
    (record,) = tracer.runs()
    assert (record.id, record.prompt, record.version, record.subject, record.content_hash) == (
        result.run_id, "support", 4, "v4", "sha256:s",
    )  # fmt: skip
    assert (record.dataset, record.model, record.seed, record.task, record.planned) == (
        "support", "mock-llm-v1", 9, "rag", 2,
    )  # fmt: skip
    assert (record.metadata, record.stopped, record.finished_at is not None) == ({"git_commit": "abc123"}, None, True)
    assert record.metrics is not None and record.metrics["resolved"]["mean"] == result.metrics["resolved"].mean == 1.0
    assert (record.input_tokens, record.output_tokens) == (result.input_tokens, result.output_tokens)
    assert tracer.runs(prompt="other") == []


def test_items_spans_and_scores_of_a_rag_run(tmp_path: Path) -> None:
    tracer = LocalTracer(tmp_path / "runs.db")
    result = rag_run(tracer)
    items = tracer.items(result.run_id)
    assert [(i.item_id, i.repeat, i.position, i.output, i.error, i.trace_id) for i in items] == [
        (r.item_id, 0, n, r.output, None, r.trace_id) for n, r in enumerate(result.items)
    ]
    assert items[0].input == {"question": "When are refunds paid back?"} and items[0].expected == "5 business days"
    first = result.items[0]
    assert first.output == "Refunds are paid back within 5 business days."
    assert first.trace_id is not None and len(first.trace_id) == 32
    spans = tracer.spans(first.trace_id)
    root = spans[0]
    assert [(s.name, s.type, s.parent_id) for s in spans] == [
        ("experiment-item", "span", None),
        ("retrieve", "retriever", root.span_id),
        ("rank", "span", root.span_id),
        ("prompt-managed-call", "generation", root.span_id),
    ]
    assert (root.input, root.output, root.level, root.attributes) == (
        {"question": "When are refunds paid back?"}, first.output, "DEFAULT",
        {"item_id": "refunds", "repeat": 0, "user_id": "u-1"},
    )  # fmt: skip
    assert spans[2].output == [{"id": "kb-refunds", "title": "Refunds"}, {"id": "kb-shipping", "title": "Shipping"}]
    generation = spans[3]
    assert generation.attributes == {
        "model": "mock-llm-v1",
        "parameters": {"temperature": 0.0, "seed": 9, "max_tokens": None},
        "prompt_name": "support",
        "prompt_version": 4,
        "usage": {"input": first.input_tokens, "output": first.output_tokens},
        "cost_usd": {"input": 0.0, "output": 0.0, "total": 0.0},  # mock-llm-v1 is free
    }
    assert generation.input[0]["role"] == "user" and generation.output == first.output
    scores = tracer.scores(trace_id=first.trace_id)
    assert [(s.name, s.value, s.data_type, s.observation_id) for s in scores] == [
        ("groundedness", 1.0, "NUMERIC", root.span_id),
        ("user_feedback", "positive", "CATEGORICAL", root.span_id),
        ("resolved", True, "BOOLEAN", root.span_id),
    ]
    assert len(tracer.scores(run_id=result.run_id)) == 6


def test_failed_and_unrun_items_are_recorded_too(tmp_path: Path) -> None:
    tracer = LocalTracer(tmp_path / "runs.db")
    broken = tuple(DatasetItem(f"q{n}", {"query": "?"}) for n in range(8))
    result = rag_run(tracer, broken, max_failure_rate=0.5)
    assert result.stopped == "failure threshold"
    items = tracer.items(result.run_id)
    assert [(i.item_id, i.error, i.trace_id is None) for i in items] == [
        *((f"q{n}", "missing variable: question", False) for n in range(5)),
        *((f"q{n}", "not run: failure threshold reached", True) for n in range(5, 8)),
    ]
    root = tracer.spans(items[0].trace_id or "")[0]
    assert (root.level, root.status_message, root.output) == ("ERROR", "missing variable: question", None)
    assert tracer.runs()[0].stopped == "failure threshold"


def test_a_span_cut_by_a_timeout_is_recorded_as_an_error(tmp_path: Path) -> None:
    tracer = LocalTracer(tmp_path / "runs.db")
    result = rag_run(tracer, ITEMS[:1], item_timeout_s=0.05, model_options={"timeout_rate": 1})
    spans = tracer.spans(result.items[0].trace_id or "")
    assert [(s.name, s.level, s.status_message) for s in spans] == [
        ("experiment-item", "ERROR", "timeout: item took longer than 0.05 s"),
        ("retrieve", "DEFAULT", None),
        ("rank", "DEFAULT", None),
        ("prompt-managed-call", "ERROR", "CancelledError"),
    ]


def test_the_schema_is_versioned_in_wal_mode_and_reopening_keeps_the_data(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "runs.db"
    result = rag_run(LocalTracer(path))
    reopened = LocalTracer(path)
    assert [r.id for r in reopened.runs()] == [result.run_id]
    db = sqlite3.connect(path)
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"schema_version", "runs", "items", "spans", "scores"}


def test_a_file_from_a_newer_promptops_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    LocalTracer(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(ExperimentError, match="schema version 99 is newer than this promptops knows"):
        LocalTracer(path)


RUN_UNTIL_KILLED = """
import sys
from pathlib import Path
from promptops.model import DatasetItem, DatasetSpec, EvaluatorSpec, ExperimentSpec, RenderedPrompt
from promptops.runner import run
from promptops.tracing import LocalTracer, Subject

rendered = RenderedPrompt("capitals", "text", "Capital of {{country}}?", {}, (), (), "sha256:c", "prompts/c.yaml")
items = tuple(DatasetItem(f"item-{i}", {"country": "France"}, "Paris") for i in range(200))
spec = ExperimentSpec(
    "capitals", evaluators=(EvaluatorSpec("exact_match", "exact_match"),), concurrency=1,
    model_options={"latency_ms": 100},
)
data = DatasetSpec("capitals", "c.yaml", items=items)
run(Subject(rendered, 1, "v1"), data, spec, tracer=LocalTracer(Path(sys.argv[1])))
"""


def test_a_killed_run_keeps_the_items_it_finished_with_their_spans_and_scores(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    path = tmp_path / "runs.db"
    child = subprocess.Popen([sys.executable, "-c", RUN_UNTIL_KILLED, str(path)], env={**os.environ})
    seen: list[Any] = []
    try:
        deadline = time.monotonic() + 60
        while len(seen) < 3 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.05)
            if path.exists():
                with sqlite3.connect(path, timeout=5) as db:
                    seen = db.execute("SELECT item_id FROM items").fetchall()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert len(seen) >= 3, "the finished items were not written while the run went on"
    tracer = LocalTracer(path)
    (record,) = tracer.runs()
    assert (record.finished_at, record.planned) == (None, 200)  # killed: the run's end was never written
    items = tracer.items(record.id)
    assert len(items) >= len(seen) and len(items) < 200
    for item in items:  # each item came with its spans and score, in one transaction
        assert [s.name for s in tracer.spans(item.trace_id or "")] == ["experiment-item", "prompt-managed-call"]
        assert [s.name for s in tracer.scores(trace_id=item.trace_id)] == ["exact_match"]
