"""LangChain tasks: a Runnable from langchain-core pieces (a fake chat model, no network) run, traced and gated."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompt_values import PromptValue
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import Runnable, RunnableBranch, RunnableLambda

from promptops.errors import ConfigError
from promptops.model import DatasetItem, DatasetSpec, EvaluatorSpec, ExperimentSpec, RenderedPrompt
from promptops.results import ExperimentResult
from promptops.runner import run
from promptops.tasks import get_task
from promptops.tasks.langchain import LANGCHAIN_MISSING, runnable_task
from promptops.tracing import NullTracer, Subject, Tracer
from promptops.tracing.langfuse import LangfuseTracer, make_mask
from promptops.tracing.local import LocalTracer
from tests.helpers import git, git_init, make_project, run_cli
from tests.langfuse_double.server import LangfuseDouble

ANSWER = "Refunds are available within 30 days of purchase."
EMAIL = "jane.doe@example.com"
CHAT = (
    {"role": "system", "content": "You answer refund questions for {{company}}."},
    {"role": "user", "content": "{{question}}"},
)
ITEMS = (
    DatasetItem("window", {"company": "Acme", "question": f"I am {EMAIL}. How long can I ask for a refund?"},
                "30 days", {"user_id": "u-1", "session_id": "s-1"}),
    DatasetItem("speed", {"company": "Acme", "question": "How fast is a refund paid?"}, "5 business days",
                {"user_id": "u-2", "session_id": "s-2"}),
)  # fmt: skip
EVALUATORS = (EvaluatorSpec("resolved", "contains"), EvaluatorSpec("user_feedback", "feedback"))
CHAIN_STEPS = ["ChatPromptTemplate", "FakeListChatModel", "StrOutputParser"]


def support_chain() -> Runnable[dict[str, object], str]:
    """ChatPromptTemplate | FakeListChatModel | StrOutputParser: the compiled prompt in, one fixed answer out."""
    prompt = ChatPromptTemplate.from_messages([MessagesPlaceholder("prompt")])
    return prompt | FakeListChatModel(responses=[ANSWER]) | StrOutputParser()


# A Runnable itself (not a builder) without an output parser: it ends in an AIMessage.
message_chain = ChatPromptTemplate.from_messages([MessagesPlaceholder("prompt")]) | FakeListChatModel(
    responses=[ANSWER]
)

# What the runnable was given, as text: the compiled prompt under the `prompt` key.
echo_prompt: Runnable[dict[str, object], str] = RunnableLambda(lambda value: json.dumps(value["prompt"]))


def routed_chain() -> Runnable[dict[str, object], str]:
    """Deterministic yet prompt-sensitive: a prompt asking for `only` the number gets the terse fake model."""

    def asks_for_brevity(value: PromptValue) -> bool:
        return "only" in value.to_string()

    terse, chatty = FakeListChatModel(responses=["30 days"]), FakeListChatModel(responses=[ANSWER])
    prompt = ChatPromptTemplate.from_messages([MessagesPlaceholder("prompt")])
    return prompt | RunnableBranch((asks_for_brevity, terse), chatty) | StrOutputParser()


def failing_builder() -> Runnable[dict[str, object], str]:
    """A builder that raises."""
    raise RuntimeError("no model configured")


def custom_task(input: dict[str, object]) -> str:
    """A plain custom task: not a runnable, so not a LangChain task."""
    return "plain"


CHAT_PROMPT = RenderedPrompt("refunds", "chat", CHAT, {}, (), (), "sha256:r", "prompts/refunds.yaml")


def chain_run(
    tracer: Tracer,
    task: str = "tests.test_langchain_task:support_chain",
    *,
    version: int | None = 3,
    rendered: RenderedPrompt = CHAT_PROMPT,
) -> ExperimentResult:
    """Run `task` on the two items with the prompt `rendered` (registry version `version`)."""
    data = DatasetSpec("refunds", "refunds.yaml", items=ITEMS)
    spec = ExperimentSpec("refunds", task=task, evaluators=EVALUATORS, seed=3, concurrency=2)
    subject = Subject(rendered, version, f"version {version}" if version else "working tree")
    return run(subject, data, spec, tracer=tracer, metadata={"git_commit": "abc123"})


def test_the_runnable_gets_the_item_input_and_the_compiled_chat_prompt() -> None:
    result = chain_run(NullTracer(), "tests.test_langchain_task:echo_prompt")
    assert json.loads(result.items[1].output or "") == [
        {"role": "system", "content": "You answer refund questions for Acme."},
        {"role": "user", "content": "How fast is a refund paid?"},
    ]


def test_for_a_text_prompt_the_runnable_gets_the_compiled_text() -> None:
    text = RenderedPrompt("refunds", "text", "{{company}} asks: {{question}}", {}, (), (), "sha256:t", "p.yaml")
    result = chain_run(NullTracer(), "tests.test_langchain_task:echo_prompt", rendered=text)
    assert json.loads(result.items[1].output or "") == "Acme asks: How fast is a refund paid?"


def test_a_runnable_object_ending_in_a_message_answers_with_its_content() -> None:
    result = chain_run(NullTracer(), "tests.test_langchain_task:message_chain")
    assert [(i.output, i.error) for i in result.items] == [(ANSWER, None), (ANSWER, None)]
    assert [[s.value for s in i.scores] for i in result.items] == [[True, "positive"], [False, "negative"]]


def test_locally_the_chain_is_one_span_of_the_item_trace(tmp_path: Path) -> None:
    tracer = LocalTracer(tmp_path / "runs.db")
    result = chain_run(tracer)
    spans = tracer.spans(result.items[1].trace_id or "")
    assert [(s.name, s.type) for s in spans] == [("experiment-item", "span"), ("RunnableSequence", "chain")]
    assert spans[1].parent_id == spans[0].span_id
    assert spans[1].output == ANSWER
    assert spans[1].input["prompt"][1] == {"role": "user", "content": "How fast is a refund paid?"}
    scores = tracer.scores(trace_id=result.items[1].trace_id)
    assert [(s.name, s.value, s.data_type) for s in scores] == [
        ("resolved", False, "BOOLEAN"),
        ("user_feedback", "negative", "CATEGORICAL"),
    ]


def test_with_langfuse_the_chain_steps_are_spans_under_the_item_root(langfuse_double: LangfuseDouble) -> None:
    result = chain_run(LangfuseTracer(langfuse_double.client(mask=make_mask(()))))
    for item, data in zip(result.items, ITEMS, strict=True):
        spans = {s.name: s for s in langfuse_double.spans(item.trace_id)}
        assert sorted(spans) == sorted(["experiment-item", "RunnableSequence", *CHAIN_STEPS])
        root, sequence = spans["experiment-item"], spans["RunnableSequence"]
        assert (root.parent_span_id, sequence.parent_span_id) == (None, root.span_id)
        assert [spans[step].parent_span_id for step in CHAIN_STEPS] == [sequence.span_id] * 3
        assert [spans[step].observation_type for step in CHAIN_STEPS] == ["chain", "generation", "chain"]
        model = spans["FakeListChatModel"].attributes
        assert (model["langfuse.observation.prompt.name"], model["langfuse.observation.prompt.version"]) == (
            "refunds",
            3,
        )
        for span in spans.values():
            attributes = span.attributes
            assert (attributes["user.id"], attributes["session.id"]) == (
                data.metadata["user_id"],
                data.metadata["session_id"],
            )
            assert attributes["langfuse.trace.tags"] == ["promptops", "prompt:refunds", "dataset:refunds"]
            assert attributes["langfuse.trace.metadata.git_commit"] == '"abc123"'
            assert attributes["langfuse.trace.metadata.run"] == json.dumps(result.run_id)
            assert EMAIL not in json.dumps(attributes)
    first = {s.name: s for s in langfuse_double.spans(result.items[0].trace_id)}
    assert json.loads(first["RunnableSequence"].attributes["langfuse.observation.input"])["question"] == (
        "I am [REDACTED email]. How long can I ask for a refund?"
    )
    roots = {s.trace_id: s.span_id for s in langfuse_double.spans(name="experiment-item")}
    scores = [
        (s["traceId"], s["observationId"], s["name"], s["dataType"]) for s in langfuse_double.scores() if "traceId" in s
    ]
    assert sorted(scores) == sorted(
        (item.trace_id, roots[item.trace_id or ""], name, data_type)
        for item in result.items
        for name, data_type in (("resolved", "BOOLEAN"), ("user_feedback", "CATEGORICAL"))
    )


def test_a_function_that_is_not_a_runnable_stays_a_custom_task() -> None:
    assert runnable_task("tests.test_langchain_task:custom_task") is None
    result = chain_run(NullTracer(), "tests.test_langchain_task:custom_task")
    assert [i.output for i in result.items] == ["plain", "plain"]


def test_a_builder_that_raises_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError) as err:
        get_task("tests.test_langchain_task:failing_builder")
    assert str(err.value) == (
        "tests.test_langchain_task:failing_builder: building the runnable failed: RuntimeError: no model configured"
    )


# -- through the CLI and the gate ----------------------------------------------------------------

REFUNDS_PROMPT = """
type: chat
messages:
  - role: system
    content: You answer refund questions for Acme. Answer in full sentences.
  - role: user
    content: "{{ question }}"
variables:
  question:
    description: The customer's question.
experiment:
  dataset: refunds
  task: tests.test_langchain_task:routed_chain
  evaluators:
    - type: exact_match
gate:
  primary: exact_match
"""
REFUNDS_DATASET = """
items:
  - id: window
    input: {question: "How long can I ask for a refund?"}
    expected_output: 30 days
    metadata: {user_id: u-1, session_id: s-1}
  - id: deadline
    input: {question: "What is the refund deadline?"}
    expected_output: 30 days
    metadata: {user_id: u-2, session_id: s-2}
"""
FULL, ONLY = "Answer in full sentences.", "Answer with only the number of days."


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository whose one prompt runs the routed LangChain task; no Langfuse keys."""
    monkeypatch.delenv("LANGFUSE_PUBLIC_KEY", raising=False)
    monkeypatch.delenv("LANGFUSE_SECRET_KEY", raising=False)
    files: dict[str, str | bytes] = {
        "prompts/refunds.yaml": REFUNDS_PROMPT,
        "prompts/datasets/refunds.yaml": REFUNDS_DATASET,
    }
    root = make_project(tmp_path / "repo", files)
    git_init(root)
    monkeypatch.chdir(root)
    return root


def reword(root: Path, old: str, new: str, branch: str) -> None:
    """Commit the prompt with `old` replaced by `new` on a new branch."""
    git(root, "checkout", "-qb", branch)
    path = root / "prompts" / "refunds.yaml"
    path.write_text(path.read_text().replace(old, new))
    git(root, "commit", "-qam", f"refunds: {new}")


def exact_match(check: dict[str, Any]) -> tuple[object, object]:
    """Return (baseline, candidate) of exact_match from `check --format json` of one prompt."""
    metric = next(m for m in check["prompts"][0]["verdict"]["metrics"] if m["name"] == "exact_match")
    return metric["baseline"], metric["candidate"]


def test_check_passes_a_prompt_whose_chain_answers_better(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reword(repo, FULL, ONLY, "terse")
    result = run_cli(capsys, "check", "--format", "json")
    assert result.code == 0, result.err
    check = json.loads(result.out)
    assert check["passed"] is True
    assert exact_match(check) == (0.0, 1.0)


def test_check_fails_a_prompt_whose_chain_answers_worse(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = repo / "prompts" / "refunds.yaml"
    path.write_text(path.read_text().replace(FULL, ONLY))
    git(repo, "commit", "-qam", "terse on main")
    reword(repo, ONLY, FULL, "chatty")
    result = run_cli(capsys, "check", "--format", "json")
    assert result.code == 1, result.err
    check = json.loads(result.out)
    assert check["passed"] is False
    assert exact_match(check) == (1.0, 0.0)
    assert [w["item_id"] for w in check["prompts"][0]["verdict"]["worse_items"]] == ["deadline", "window"]


def test_sync_against_langfuse_gates_and_traces_the_chain(
    repo: Path, capsys: pytest.CaptureFixture[str], langfuse_double: LangfuseDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in langfuse_double.env.items():
        monkeypatch.setenv(key, value)
    reword(repo, FULL, ONLY, "terse")
    result = run_cli(capsys, "sync", "--json")
    assert result.code == 0, result.err
    [row] = json.loads(result.out)["prompts"]
    assert (row["outcome"], row["version"], row["release"]) == ("promoted", 1, "release-1")
    generations = langfuse_double.spans(name="FakeListChatModel")
    assert len(generations) == 2
    assert {(g.attributes["langfuse.observation.prompt.name"], g.attributes["langfuse.observation.prompt.version"])
            for g in generations} == {("refunds", 1)}  # fmt: skip
    outputs = {s.attributes["langfuse.observation.output"] for s in langfuse_double.spans(name="RunnableSequence")}
    assert outputs == {"30 days"}
    assert sorted(s["name"] for s in langfuse_double.scores() if "traceId" in s) == ["exact_match", "exact_match"]


class WithoutLangChain:
    """An import finder that makes langchain-core look uninstalled, as in an environment without the extra."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.partition(".")[0] == "langchain_core":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def test_without_langchain_core_the_error_says_what_to_install(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "needs_langchain.py").write_text("from langchain_core.runnables import RunnableLambda\n")
    monkeypatch.syspath_prepend(str(repo))
    for name in [m for m in sys.modules if m.partition(".")[0] == "langchain_core"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [WithoutLangChain(), *sys.meta_path])
    path = repo / "prompts" / "refunds.yaml"
    path.write_text(path.read_text().replace("tests.test_langchain_task:routed_chain", "needs_langchain:chain"))
    result = run_cli(capsys, "experiment", "refunds")
    assert result.code == 1
    assert result.err.splitlines()[-1] == f"error: needs_langchain:chain: {LANGCHAIN_MISSING}"
    assert LANGCHAIN_MISSING == "LangChain tasks need langchain-core: pip install 'promptops[langchain]'"
