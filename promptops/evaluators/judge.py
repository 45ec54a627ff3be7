"""LLM-as-judge: a model grades the answer PASS or FAIL."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from promptops.evaluators.base import EvalCase, OptionsEvaluator, Score, as_text
from promptops.model import EvaluatorSpec

DEFAULT_JUDGE_MODEL = "mock-llm-v1"
DEFAULT_CRITERIA = "The answer is correct and complete."


class JudgeReply(Protocol):
    """What the judge reads of a promptops.llm Completion."""

    @property
    def text(self) -> str: ...


class JudgeProvider(Protocol):
    """What the judge needs of a promptops.llm Provider."""

    async def complete(self, request: Any) -> JudgeReply: ...


ProviderFactory = Callable[[str, Mapping[str, Any]], JudgeProvider]


def judge_prompt(case: EvalCase, criteria: str = DEFAULT_CRITERIA) -> str:
    """Return the single user message the judge model receives (mock-llm-v1 answers it by rule)."""
    question = case.input.get("question")
    return "\n".join(
        [
            f"You are grading an answer. Criteria: {criteria}",
            f"Question: {as_text(question) if question is not None else as_text(dict(case.input))}",
            f"Expected answer: {as_text(case.expected_output)}",
            f"Answer: {case.output}",
            "Reply with exactly one word: PASS or FAIL.",
        ]
    )


def parse_verdict(reply: str) -> bool:
    """Return True for PASS and False for FAIL; raise ValueError for any other reply."""
    verdict = reply.strip().upper()
    if verdict.startswith("PASS"):
        return True
    if verdict.startswith("FAIL"):
        return False
    raise ValueError(f"judge replied {reply[:80]!r}, expected PASS or FAIL")


class LLMJudge(OptionsEvaluator):
    """BOOLEAN: a judge model, asked with `judge_prompt`, replies PASS.

    Options: `model` (default mock-llm-v1), `criteria` (default "The answer is correct and complete."),
    `model_options` (passed to the provider factory). A reply that is neither PASS nor FAIL raises
    ValueError, so the runner records the item as failed.
    """

    DATA_TYPE = "BOOLEAN"
    OPTIONS = {"model": "str", "criteria": "str", "model_options": "mapping"}

    def __init__(self, spec: EvaluatorSpec, judge_provider: ProviderFactory | None = None) -> None:
        super().__init__(spec)
        self.model: str = spec.options.get("model", DEFAULT_JUDGE_MODEL)
        self.criteria: str = spec.options.get("criteria", DEFAULT_CRITERIA)
        self.model_options: Mapping[str, Any] = spec.options.get("model_options", {})
        self._factory = judge_provider
        self._provider: JudgeProvider | None = None

    @classmethod
    def from_spec(cls, spec: EvaluatorSpec, *, judge_provider: Any = None) -> LLMJudge:
        """Build the judge; `judge_provider(model, model_options)` defaults to promptops.llm.get_provider."""
        return cls(spec, judge_provider)

    def provider(self) -> JudgeProvider:
        """Return the judge model's provider, created on first use."""
        if self._provider is None:
            factory = self._factory
            if factory is None:
                from promptops.llm import get_provider  # lazy: only judges need a model backend

                factory = get_provider
            self._provider = factory(self.model, self.model_options)
        return self._provider

    async def evaluate(self, case: EvalCase) -> Score:
        """Ask the judge model and score its verdict."""
        from promptops.llm.base import text_request

        request = text_request(judge_prompt(case, self.criteria), self.model)
        reply = (await self.provider().complete(request)).text
        return self.score(parse_verdict(reply), reply.strip()[:200] or None)
