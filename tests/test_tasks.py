"""Tasks: generate, rag and custom module:function tasks, with exact messages, requests and spans."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

import pytest

from promptops.errors import ConfigError, ExperimentError
from promptops.evaluators import EvalCase, Score
from promptops.evaluators.base import DataType
from promptops.llm import Completion, LLMRequest, get_provider
from promptops.model import DatasetItem, DatasetSpec, ExperimentSpec, KnowledgeDoc, RenderedPrompt
from promptops.results import ItemResult
from promptops.runner import run
from promptops.tasks import MissingVariable, TaskContext, TaskResult, get_task, known_tasks
from promptops.tasks.generate import compile_messages, prompt_variables
from promptops.tasks.rag import overlap_retriever, rank
from promptops.tracing import NullTracer, Subject

GROUNDED = "Answer using only the provided context.\n<context>\n{{context}}\n</context>\nQuestion: {{question}}"
KB = (
    KnowledgeDoc("kb-refunds", "Refunds are available within 30 days of purchase.", "Refund policy"),
    KnowledgeDoc("kb-shipping", "Standard shipping takes 3 to 5 business days.", "Shipping"),
    KnowledgeDoc("kb-express", "Express shipping delivers the next business day.", "Express shipping"),
)
SUPPORT = DatasetSpec("support", "support.yaml", knowledge_base=KB)


def text_prompt(prompt: str, config: Mapping[str, Any] | None = None, version: int | None = 2) -> Subject:
    """Return a text prompt subject."""
    rendered = RenderedPrompt("qa", "text", prompt, dict(config or {}), (), (), "sha256:qa", "prompts/qa.yaml")
    return Subject(rendered, version, f"version {version}")


def chat_prompt() -> Subject:
    """Return a chat prompt with a system message, a history placeholder and a user message."""
    messages = (
        {"role": "system", "content": "You are a {{tone}} assistant."},
        {"type": "placeholder", "name": "history"},
        {"role": "user", "content": "{{question}}"},
    )
    rendered = RenderedPrompt("chat", "chat", messages, {}, (), (), "sha256:chat", "prompts/chat.yaml")
    return Subject(rendered, 1, "version 1")


class Recorder:
    """An ItemTrace that keeps (kind, name, input, output) of each observation, and a mock-backed `complete`."""

    trace_id = "t" * 32

    def __init__(self) -> None:
        self.events: list[tuple[str, str, Any, Any]] = []
        self.requests: list[LLMRequest] = []
        self.mock = get_provider("mock-llm-v1")

    @contextmanager
    def _observe(self, kind: str, name: str, input: Any) -> Iterator[Any]:
        recorder = self

        class Observation:
            id = "s" * 16
            output: Any = None

            def update(self, *, output: Any = None, usage: Any = None, metadata: Any = None, cost: Any = None) -> None:
                self.output = output

        observation = Observation()
        yield observation
        recorder.events.append((kind, name, input, observation.output))

    def span(self, name: str, *, input: Any = None, kind: str = "span") -> Any:
        return self._observe(kind, name, input)

    def generation(
        self, *, model: str, messages: Sequence[Mapping[str, str]], parameters: Mapping[str, Any],
        prompt: Subject | None, name: str = "prompt-managed-call",
    ) -> Any:  # fmt: skip
        assert prompt is not None
        return self._observe(f"generation {prompt.rendered.name} v{prompt.version}", name, list(messages))

    def score(self, name: str, value: Any, data_type: Any, comment: str | None = None) -> None:
        self.events.append(("score", name, value, comment))

    def finish(self, result: ItemResult) -> None:
        self.events.append(("finish", result.item_id, None, result.output))

    async def complete(self, request: LLMRequest) -> Completion:
        self.requests.append(request)
        return await self.mock.complete(request)


def call(
    task: str, subject: Subject, values: Mapping[str, Any], *, spec: ExperimentSpec | None = None,
    data: DatasetSpec = SUPPORT, repeat: int = 0, metadata: Mapping[str, Any] | None = None,
) -> tuple[TaskResult, Recorder]:  # fmt: skip
    """Run one task for one item and return its result and what it recorded."""
    recorder = Recorder()
    item = DatasetItem("item-1", values, None, dict(metadata or {}))
    ctx = TaskContext(
        subject, item, repeat, spec or ExperimentSpec("support", task=task), data, recorder, recorder.complete
    )

    async def main() -> TaskResult:
        return await get_task(task)(ctx)

    return asyncio.run(main()), recorder


def test_a_text_prompt_compiles_with_the_sdk_into_one_user_message() -> None:
    subject = text_prompt("Hi {{ name }}, {{name}}! {{ unused }}")
    assert prompt_variables(subject.rendered) == ["name", "unused"]
    assert compile_messages(subject.rendered, {"name": "Ada", "unused": None, "extra": 1}) == [
        {"role": "user", "content": "Hi Ada, Ada! "}
    ]


def test_chat_placeholders_get_no_messages_unless_the_item_gives_a_list() -> None:
    subject = chat_prompt()
    values = {"tone": "polite", "question": "Why?"}
    assert compile_messages(subject.rendered, values) == [
        {"role": "system", "content": "You are a polite assistant."},
        {"role": "user", "content": "Why?"},
    ]
    history = [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi"}]
    assert compile_messages(subject.rendered, {**values, "history": history})[1:3] == history
    assert len(compile_messages(subject.rendered, {**values, "history": "not a list"})) == 2


def test_missing_variables_are_named_once_in_prompt_order() -> None:
    with pytest.raises(MissingVariable) as caught:
        compile_messages(chat_prompt().rendered, {"history": []})
    assert caught.value.names == ["tone", "question"] and str(caught.value) == "tone, question"


def test_generate_takes_temperature_and_max_tokens_from_config_and_model_and_seed_from_the_spec() -> None:
    subject = text_prompt("What is the capital of {{country}}?", {"temperature": 1.0, "max_tokens": 3})
    spec = ExperimentSpec("support", seed=40, model_options={"latency_ms": 0})
    result, recorder = call("generate", subject, {"country": "France"}, spec=spec, repeat=2)
    request = recorder.requests[0]
    assert (request.model, request.temperature, request.seed, request.max_tokens, dict(request.options)) == (
        "mock-llm-v1", 1.0, 42, 3, {"latency_ms": 0},
    )  # fmt: skip
    assert request.messages == ({"role": "user", "content": "What is the capital of France?"},)
    assert (result.output, result.context) == ("The capital of", None)
    assert recorder.events == [
        ("generation qa v2", "prompt-managed-call", list(request.messages), "The capital of"),
    ]


def test_generate_passes_the_items_own_context_on_for_evaluators() -> None:
    result, _ = call("generate", text_prompt("{{context}} {{question}}"), {"context": ["a", "b"], "question": "q?"})
    assert result.context == "a\nb"


def test_word_overlap_retrieval_ranks_by_shared_content_words_and_keeps_two() -> None:
    question = "When does express shipping deliver?"
    assert [d.id for d in overlap_retriever(question, KB)] == ["kb-express", "kb-shipping"]
    assert [d.id for d in rank("What about refunds?", KB, k=3)] == ["kb-refunds", "kb-shipping", "kb-express"]


def test_rag_retrieves_ranks_fills_context_and_answers_from_it() -> None:
    result, recorder = call("rag", text_prompt(GROUNDED), {"question": "How long does standard shipping take?"})
    assert result.documents == ("kb-shipping", "kb-express")
    assert (
        result.context
        == "Standard shipping takes 3 to 5 business days.\nExpress shipping delivers the next business day."
    )
    assert result.output == "Standard shipping takes 3 to 5 business days."
    shipping = [{"id": "kb-shipping", "title": "Shipping"}, {"id": "kb-express", "title": "Express shipping"}]
    assert [event[:2] for event in recorder.events] == [
        ("retriever", "retrieve"), ("span", "rank"), ("generation qa v2", "prompt-managed-call"),
    ]  # fmt: skip
    assert recorder.events[0][2:] == ({"question": "How long does standard shipping take?"}, shipping)
    assert recorder.events[1][2:] == (["kb-shipping", "kb-express"], shipping)
    assert f"<context>\n{result.context}\n</context>" in recorder.requests[0].messages[0]["content"]


def strings_retriever(question: str, knowledge_base: Sequence[KnowledgeDoc]) -> list[str]:
    """Return every document's text plus an extra string, ignoring the question."""
    return [*(d.text for d in knowledge_base), "Refunds take 5 days."]


async def dict_retriever(question: str, knowledge_base: Sequence[KnowledgeDoc]) -> list[dict[str, str]]:
    """Return one document as a mapping."""
    return [{"id": "faq-1", "title": "FAQ", "text": "Refunds are paid within 5 business days."}]


def test_rag_with_a_custom_retriever_sync_or_async() -> None:
    spec = ExperimentSpec("support", task="rag", retriever="tests.test_tasks:strings_retriever")
    result, _ = call("rag", text_prompt(GROUNDED), {"question": "How long do refunds take?"}, spec=spec)
    assert result.documents == ("doc-3", "doc-0")
    spec = ExperimentSpec("support", task="rag", retriever="tests.test_tasks:dict_retriever")
    result, _ = call("rag", text_prompt(GROUNDED), {"question": "When are refunds paid?"}, spec=spec)
    assert (result.documents, result.output) == (("faq-1",), "Refunds are paid within 5 business days.")


def test_rag_without_a_question_is_a_missing_variable() -> None:
    with pytest.raises(MissingVariable, match="question"):
        call("rag", text_prompt(GROUNDED), {"query": "refunds?"})


def test_rag_hands_the_retrieved_text_to_evaluators() -> None:
    contexts: list[str | None] = []

    class Spy:
        name, kind, data_type = "spy", "test", cast(DataType, "NUMERIC")
        threshold: float | None = None
        mapping: Mapping[str, float] | None = None

        async def evaluate(self, case: EvalCase) -> Score:
            contexts.append(case.context)
            return Score("spy", 1.0, "NUMERIC")

    data = DatasetSpec(
        "support", "s.yaml", items=(DatasetItem("q", {"question": "When do refunds end?"}),), knowledge_base=KB
    )
    run(text_prompt(GROUNDED), data, ExperimentSpec("support", task="rag"), tracer=NullTracer(), evaluators=[Spy()])
    assert contexts == [
        "Refunds are available within 30 days of purchase.\nStandard shipping takes 3 to 5 business days."
    ]


async def async_task(input: Mapping[str, Any], call_model: Any, metadata: Mapping[str, Any]) -> TaskResult:
    """Call the model twice, once with a changed variable, and return both answers."""
    first = await call_model()
    second = await call_model({"country": "Japan"})
    return TaskResult(output=f"{first} | {second} | {metadata['user_id']}", context="ctx")


def sync_task(input: Mapping[str, Any], call_model: Any) -> str:
    """Call the model through the blocking helper from a worker thread."""
    return str(call_model()).upper()


def test_custom_async_task_gets_input_metadata_and_an_async_call_model() -> None:
    subject = text_prompt("What is the capital of {{country}}? Answer with only the city name.")
    result, recorder = call("tests.test_tasks:async_task", subject, {"country": "France"}, metadata={"user_id": "u-1"})
    assert (result.output, result.context) == ("Paris | Tokyo | u-1", "ctx")
    assert [e[0] for e in recorder.events] == ["generation qa v2", "generation qa v2"]


def test_custom_sync_task_runs_in_a_thread_with_a_blocking_call_model() -> None:
    subject = text_prompt("What is the capital of {{country}}? Answer with only the city name.")
    result, recorder = call("tests.test_tasks:sync_task", subject, {"country": "Germany"})
    assert (result.output, len(recorder.requests)) == ("BERLIN", 1)


def test_tasks_are_looked_up_by_name_then_as_module_function() -> None:
    assert known_tasks() == ("generate", "rag")
    with pytest.raises(ExperimentError, match=r"unknown task 'summarise'; known tasks: generate, rag, or a custom"):
        get_task("summarise")
    with pytest.raises(ConfigError, match="cannot import 'no_such_module'"):
        get_task("no_such_module:task")
