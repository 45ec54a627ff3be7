"""The `rag` task, the seed's pipeline: retrieve -> rank -> prompt-managed-call, each step a span."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from promptops.evaluators.grounding import content_words
from promptops.model import KnowledgeDoc
from promptops.tasks import MissingVariable, TaskContext, TaskResult
from promptops.tasks.generate import prompt_managed_call

TOP_K = 2


def overlap(question: str, doc: KnowledgeDoc) -> int:
    """Return how many of the question's content words the document's title and text contain."""
    return len(content_words(question) & content_words(f"{doc.title} {doc.text}"))


def rank(question: str, docs: Sequence[KnowledgeDoc], k: int = TOP_K) -> list[KnowledgeDoc]:
    """Return the k documents with the most overlap; ties keep the given order (sorted() is stable)."""
    return sorted(docs, key=lambda doc: -overlap(question, doc))[:k]


def overlap_retriever(question: str, knowledge_base: Sequence[KnowledgeDoc]) -> list[KnowledgeDoc]:
    """Return the top k documents by word overlap, like a vector store's nearest k (even with no overlap).

    Always returning k documents lets a grounded prompt see that the answer is not there and say so.
    """
    return rank(question, knowledge_base)


@lru_cache(maxsize=32)
def _retriever(kind: str) -> Callable[..., Any]:
    from promptops.evaluators.custom import resolve

    return resolve(kind)


def _as_doc(value: Any, index: int) -> KnowledgeDoc:
    """Accept what a custom retriever returns: KnowledgeDoc, a string, or a mapping with `text`."""
    if isinstance(value, KnowledgeDoc):
        return value
    if isinstance(value, str):
        return KnowledgeDoc(id=f"doc-{index}", text=value)
    if isinstance(value, Mapping) and isinstance(value.get("text"), str):
        return KnowledgeDoc(
            id=str(value.get("id", f"doc-{index}")), text=value["text"], title=str(value.get("title", ""))
        )
    raise TypeError(f"retriever returned {type(value).__name__}; expected KnowledgeDoc, str or a mapping with text")


async def retrieve(question: str, knowledge_base: Sequence[KnowledgeDoc], retriever: str | None) -> list[KnowledgeDoc]:
    """Return candidate documents: the word-overlap default, or the spec's `module:function` (sync or async)."""
    if retriever is None:
        return overlap_retriever(question, knowledge_base)
    found = _retriever(retriever)(question, tuple(knowledge_base))
    if inspect.isawaitable(found):
        found = await found
    return [_as_doc(value, i) for i, value in enumerate(found)]


def _described(docs: Sequence[KnowledgeDoc]) -> list[dict[str, str]]:
    return [{"id": doc.id, "title": doc.title} for doc in docs]


async def rag(ctx: TaskContext) -> TaskResult:
    """Retrieve from the dataset's knowledge base, rank, put the top documents in `context`, answer."""
    question = ctx.item.input.get("question")
    if question is None:
        raise MissingVariable(["question"])
    question = str(question)
    with ctx.trace.span("retrieve", input={"question": question}, kind="retriever") as span:
        found = await retrieve(question, ctx.dataset.knowledge_base, ctx.spec.retriever)
        span.update(output=_described(found))
    with ctx.trace.span("rank", input=[doc.id for doc in found]) as span:
        ranked = rank(question, found)
        span.update(output=_described(ranked))
    context = "\n".join(doc.text for doc in ranked)
    output = await prompt_managed_call(ctx, {**ctx.item.input, "context": context})
    return TaskResult(output=output, context=context, documents=tuple(doc.id for doc in ranked))
