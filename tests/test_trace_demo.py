"""`promptops trace-demo`: the seed's support flow traced to the local store, or to Langfuse when configured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from promptops.tracing.local import LocalTracer
from tests.helpers import example_repo, run_cli
from tests.langfuse_double.server import LangfuseDouble

SCORES: list[dict[str, Any]] = [
    {"name": "groundedness", "value": 0.7142857142857143, "data_type": "NUMERIC"},
    {"name": "user_feedback", "value": "positive", "data_type": "CATEGORICAL"},
    {"name": "resolved", "value": True, "data_type": "BOOLEAN"},
]
ANSWER = (
    "Thank you for your question. Refunds are paid back to the original payment method within 5 business days. "
    "I hope this helps."
)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return example_repo(tmp_path / "repo", monkeypatch)


def demo(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    """Run `trace-demo --json --item refund-speed` and return its JSON."""
    result = run_cli(capsys, "trace-demo", "--item", "refund-speed", "--json", *args)
    assert result.code == 0, result.err
    data: dict[str, Any] = json.loads(result.out)
    return data


def test_without_langfuse_the_flow_goes_to_the_local_store(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = demo(capsys)
    assert {k: data[k] for k in ("backend", "where", "subject", "version", "user_id", "session_id", "answer")} == {
        "backend": "local",
        "where": ".promptops/runs.db",
        "subject": "working tree",
        "version": None,
        "user_id": "u-102",
        "session_id": "s-2",
        "answer": ANSWER,
    }
    assert data["spans"] == [
        {"name": "experiment-item", "type": "span", "depth": 0, "prompt": None},
        {"name": "retrieve", "type": "retriever", "depth": 1, "prompt": None},
        {"name": "rank", "type": "span", "depth": 1, "prompt": None},
        {"name": "prompt-managed-call", "type": "generation", "depth": 1, "prompt": None},
    ]
    assert data["scores"] == SCORES
    store = LocalTracer(repo / ".promptops" / "runs.db")
    assert [(s.name, s.value, s.data_type) for s in store.scores(trace_id=data["trace_id"])] == [
        (s["name"], s["value"], s["data_type"]) for s in SCORES
    ]
    assert [r.id for r in store.runs("support-agent")] == [data["run_id"]]


def test_the_text_output_shows_the_span_tree_linked_to_production(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(capsys, "sync").code == 0
    result = run_cli(capsys, "trace-demo", "--item", "refund-speed")
    assert result.code == 0, result.err
    store = LocalTracer(repo / ".promptops" / "runs.db")
    run_id = store.runs("support-agent")[0].id  # newest first: the demo's, after sync's two
    trace_id = store.items(run_id)[0].trace_id
    assert result.out.splitlines() == [
        "support-agent version 1 (production) · support-faq item refund-speed · user u-102 · session s-2",
        "question: How long until a refund is paid back?",
        f"answer:   {ANSWER}",
        "",
        f"trace {trace_id} (run {run_id}) in the local store .promptops/runs.db:",
        "  experiment-item (span)",
        "    retrieve (retriever)",
        "    rank (span)",
        "    prompt-managed-call (generation)  → prompt support-agent v1",
        f"  read it: sqlite3 .promptops/runs.db \"SELECT name, type FROM spans WHERE trace_id = '{trace_id}'\"",
        "scores:",
        "  groundedness   0.71       NUMERIC",
        "  user_feedback  positive   CATEGORICAL",
        "  resolved       true       BOOLEAN",
    ]


def test_with_langfuse_the_flow_is_one_trace_in_langfuse(
    repo: Path, capsys: pytest.CaptureFixture[str], langfuse_double: LangfuseDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in langfuse_double.env.items():
        monkeypatch.setenv(key, value)
    assert run_cli(capsys, "sync").code == 0
    data = demo(capsys)
    trace_id = data["trace_id"]
    assert (data["backend"], data["subject"], data["spans"], data["scores"]) == (
        "langfuse", "version 1 (production)", [], SCORES,
    )  # fmt: skip
    assert data["trace_url"] == f"{langfuse_double.base_url}/project/{langfuse_double.project_id}/traces/{trace_id}"
    spans = {s.name: s for s in langfuse_double.spans(trace_id)}
    assert sorted(spans) == ["experiment-item", "prompt-managed-call", "rank", "retrieve"]
    generation = spans["prompt-managed-call"].attributes
    assert (generation["langfuse.observation.prompt.name"], generation["langfuse.observation.prompt.version"]) == (
        "support-agent",
        1,
    )
    assert {(s.attributes["user.id"], s.attributes["session.id"]) for s in spans.values()} == {("u-102", "s-2")}
    scores = [(s["name"], s["dataType"]) for s in langfuse_double.scores() if s.get("traceId") == trace_id]
    assert scores == [("groundedness", "NUMERIC"), ("user_feedback", "CATEGORICAL"), ("resolved", "BOOLEAN")]


def test_an_unknown_item_names_the_known_ones(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "trace-demo", "--item", "nope")
    assert result.code == 1
    assert result.err.startswith("error: dataset support-faq has no item 'nope' (items: refund-window, refund-speed,")
