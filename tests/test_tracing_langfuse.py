"""LangfuseTracer through the real SDK against the loopback double: traces, prompt links, scores, masking."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from typing import Any

import pytest

from promptops.model import DatasetItem, DatasetSpec, EvaluatorSpec, ExperimentSpec, KnowledgeDoc, RenderedPrompt
from promptops.results import ExperimentResult
from promptops.runner import run
from promptops.tracing import Subject
from promptops.tracing.langfuse import LangfuseTracer, make_mask
from tests.langfuse_double.server import LangfuseDouble
from tests.langfuse_double.spans import Span

PROMPT = "Answer using only the provided context.\n<context>\n{{context}}\n</context>\nQuestion: {{question}}"
KB = (
    KnowledgeDoc("kb-refunds", "Refunds are paid back within 5 business days.", "Refunds"),
    KnowledgeDoc("kb-shipping", "Standard shipping takes 3 to 5 business days.", "Shipping"),
)
EMAIL = "jane.doe@example.com"
ITEMS = (
    DatasetItem(
        "refunds", {"question": f"I am {EMAIL}. When are refunds paid back?"}, "5 business days",
        {"user_id": "u-101", "session_id": "s-1"},
    ),
    DatasetItem(
        "shipping", {"question": "How long does standard shipping take?"}, "3 to 5 business days",
        {"user_id": "u-102", "session_id": "s-2"},
    ),
)  # fmt: skip
EVALUATORS = (
    EvaluatorSpec("groundedness", "groundedness"),
    EvaluatorSpec("user_feedback", "feedback"),
    EvaluatorSpec("resolved", "contains"),
)
NAMES = ["experiment-item", "retrieve", "rank", "prompt-managed-call"]


def rag_run(
    tracer: LangfuseTracer, version: int | None = 4, items: tuple[DatasetItem, ...] = ITEMS
) -> ExperimentResult:
    """Run the rag task on two items, two at a time, recording through `tracer`."""
    rendered = RenderedPrompt("support", "text", PROMPT, {"temperature": 0}, (), (), "sha256:s", "prompts/support.yaml")
    data = DatasetSpec("support", "support.yaml", items=items, knowledge_base=KB)
    spec = ExperimentSpec("support", task="rag", evaluators=EVALUATORS, seed=9, concurrency=2)
    subject = Subject(rendered, version, f"version {version}" if version else "working tree")
    return run(subject, data, spec, tracer=tracer, metadata={"git_commit": "abc123"})


def by_trace(spans: list[Span]) -> dict[str, dict[str, Span]]:
    """Return spans grouped by trace id, then by name."""
    grouped: dict[str, dict[str, Span]] = defaultdict(dict)
    for span in spans:
        grouped[span.trace_id][span.name] = span
    return grouped


def test_each_item_is_one_trace_of_the_seeds_pipeline(langfuse_double: LangfuseDouble) -> None:
    result = rag_run(LangfuseTracer(langfuse_double.client(mask=make_mask(()))))
    traces = by_trace(langfuse_double.spans())
    assert sorted(traces) == sorted(i.trace_id for i in result.items if i.trace_id)
    for item in result.items:
        spans = traces[item.trace_id or ""]
        assert sorted(spans) == sorted(NAMES) and len(langfuse_double.spans(item.trace_id)) == 4
        root = spans["experiment-item"]
        assert root.parent_span_id is None
        assert [spans[name].parent_span_id for name in NAMES[1:]] == [root.span_id] * 3
        assert [spans[name].observation_type for name in NAMES] == ["span", "retriever", "span", "generation"]
        assert root.attributes["langfuse.observation.output"] == item.output


def test_the_generation_is_linked_to_the_prompt_version_and_carries_model_and_usage(
    langfuse_double: LangfuseDouble,
) -> None:
    result = rag_run(LangfuseTracer(langfuse_double.client()))
    item = result.items[1]
    generation = by_trace(langfuse_double.spans())[item.trace_id or ""]["prompt-managed-call"].attributes
    assert (generation["langfuse.observation.prompt.name"], generation["langfuse.observation.prompt.version"]) == (
        "support",
        4,
    )
    assert generation["langfuse.observation.model.name"] == "mock-llm-v1"
    assert json.loads(generation["langfuse.observation.usage_details"]) == {
        "input": item.input_tokens,
        "output": item.output_tokens,
    }
    assert json.loads(generation["langfuse.observation.model.parameters"]) == {"temperature": 0.0, "seed": 9}
    assert generation["langfuse.observation.output"] == item.output == "Standard shipping takes 3 to 5 business days."


def test_a_working_tree_prompt_without_a_version_is_not_linked(langfuse_double: LangfuseDouble) -> None:
    rag_run(LangfuseTracer(langfuse_double.client()), version=None)
    generations = langfuse_double.spans(name="prompt-managed-call")
    assert len(generations) == 2
    assert all("langfuse.observation.prompt.name" not in g.attributes for g in generations)


def test_user_session_environment_and_experiment_attributes_are_on_every_span(langfuse_double: LangfuseDouble) -> None:
    result = rag_run(LangfuseTracer(langfuse_double.client()))
    traces = by_trace(langfuse_double.spans())
    for item, data in zip(result.items, ITEMS, strict=True):
        spans = traces[item.trace_id or ""]
        root_id = spans["experiment-item"].span_id
        for span in spans.values():
            attributes = span.attributes
            assert (attributes["user.id"], attributes["session.id"]) == (
                data.metadata["user_id"],
                data.metadata["session_id"],
            )
            assert attributes["langfuse.environment"] == "sdk-experiment"
            assert attributes["langfuse.trace.tags"] == ["promptops", "prompt:support", "dataset:support"]
            assert attributes["langfuse.version"] == "4"
            assert attributes["langfuse.trace.metadata.run"] == json.dumps(result.run_id)
            assert attributes["langfuse.trace.metadata.git_commit"] == '"abc123"'
            assert attributes["langfuse.experiment.id"] == result.run_id
            assert attributes["langfuse.experiment.item.id"] == item.item_id
            assert attributes["langfuse.experiment.item.root_observation_id"] == root_id
            assert json.loads(attributes["langfuse.experiment.metadata"])["git_commit"] == "abc123"
        assert spans["experiment-item"].attributes["langfuse.experiment.item.expected_output"] == data.expected_output


def test_scores_of_all_three_types_arrive_on_the_root_observation(langfuse_double: LangfuseDouble) -> None:
    result = rag_run(LangfuseTracer(langfuse_double.client()))
    roots = {s.trace_id: s.span_id for s in langfuse_double.spans(name="experiment-item")}
    received: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for score in langfuse_double.scores():
        if "traceId" in score:
            assert score["observationId"] == roots[score["traceId"]]
            received[score["traceId"]].append((score["name"], score["value"], score["dataType"]))
    for item in result.items:
        expected = [(s.name, float(s.value) if s.data_type == "BOOLEAN" else s.value, s.data_type) for s in item.scores]
        assert sorted(received[item.trace_id or ""]) == sorted(expected)
    assert sorted(received[result.items[1].trace_id or ""]) == [
        ("groundedness", 1.0, "NUMERIC"),
        ("resolved", 1.0, "BOOLEAN"),
        ("user_feedback", "positive", "CATEGORICAL"),
    ]
    run_scores = {s["name"]: s["value"] for s in langfuse_double.scores() if s.get("datasetRunId") == result.run_id}
    assert run_scores["mean_resolved"] == 1.0 and run_scores["error_rate"] == 0.0
    assert any(isinstance(request.body, list) for request in langfuse_double.requests("POST", "/api/public/scores"))


def test_an_email_in_the_item_input_is_masked_everywhere(langfuse_double: LangfuseDouble) -> None:
    rag_run(LangfuseTracer(langfuse_double.client(mask=make_mask(()))))
    spans = langfuse_double.spans()
    assert spans and not any(EMAIL in json.dumps(s.attributes) for s in spans)
    root = next(s for s in spans if s.name == "experiment-item" and "refunds" in json.dumps(s.attributes))
    assert json.loads(root.attributes["langfuse.observation.input"]) == {
        "question": "I am [REDACTED email]. When are refunds paid back?"
    }
    generation = next(s for s in spans if s.trace_id == root.trace_id and s.name == "prompt-managed-call")
    assert "I am [REDACTED email]." in generation.attributes["langfuse.observation.input"]


def test_values_the_sdk_mask_never_sees_are_redacted_by_the_tracer(langfuse_double: LangfuseDouble) -> None:
    item = DatasetItem("refunds", {"question": "When are refunds paid back?"}, "5 business days", {"user_id": EMAIL})
    tracer = LangfuseTracer(langfuse_double.client(), redact_patterns=(r"abc\d+",))
    rag_run(tracer, items=(item,))
    root = langfuse_double.spans(name="experiment-item")[0].attributes
    assert root["user.id"] == "[REDACTED email]"
    assert root["langfuse.trace.metadata.git_commit"] == '"[REDACTED]"'
    assert EMAIL not in root["langfuse.experiment.item.metadata"]


def test_make_mask_redacts_strings_in_nested_dicts_and_lists_only() -> None:
    mask = make_mask((r"ticket-\d+",))
    data = {"a": [f"mail {EMAIL}", ("ticket-42", 7)], "b": {"c": None, "d": 1.5, "e": "call +1 415 555 0100"}}
    assert mask(data=data) == {
        "a": ["mail [REDACTED email]", ["[REDACTED]", 7]],
        "b": {"c": None, "d": 1.5, "e": "call [REDACTED phone]"},
    }


SECRET = "lfsecret-canary-0b1c2d3e4f"  # no credential pattern matches it: only the by-value mask catches it


def leaky_evaluator(output: str) -> bool:
    """A custom evaluator whose error quotes a customer and the secret key (as careless code does)."""
    raise ValueError(f"cannot score {output!r} for {EMAIL} with key {os.environ['LANGFUSE_SECRET_KEY']}")


def test_a_failing_items_error_reaches_langfuse_masked(
    langfuse_double: LangfuseDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The item's error goes to the root span's status_message, which the SDK's mask never sees.
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", SECRET)
    evaluators = (EvaluatorSpec("leak", "tests.test_tracing_langfuse:leaky_evaluator"),)
    rendered = RenderedPrompt("support", "text", PROMPT, {}, (), (), "sha256:s", "prompts/support.yaml")
    data = DatasetSpec("support", "support.yaml", items=ITEMS, knowledge_base=KB)
    spec = ExperimentSpec("support", task="rag", evaluators=evaluators, seed=9)
    tracer = LangfuseTracer(langfuse_double.client(mask=make_mask(())))
    result = run(Subject(rendered, None, "working tree"), data, spec, tracer=tracer)
    assert all(item.error and SECRET in item.error for item in result.items)  # in the process: the real reason
    roots = langfuse_double.spans(name="experiment-item")
    assert len(roots) == 2
    sent = json.dumps([(s.attributes, s.status_message) for s in langfuse_double.spans()])
    assert SECRET not in sent and EMAIL not in sent
    statuses = {s.attributes.get("langfuse.observation.status_message") for s in roots}
    assert statuses == {
        "evaluator error: leak: ValueError: cannot score 'Refunds are paid back within 5 business days.' for "
        "[REDACTED email] with key [REDACTED LANGFUSE_SECRET_KEY]",
        "evaluator error: leak: ValueError: cannot score 'Standard shipping takes 3 to 5 business days.' for "
        "[REDACTED email] with key [REDACTED LANGFUSE_SECRET_KEY]",
    }
