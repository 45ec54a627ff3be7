"""The built-in evaluator kinds, by the name a prompt file uses in `experiment.evaluators[].kind`."""

from __future__ import annotations

from collections.abc import Mapping

from promptops.evaluators.base import OptionsEvaluator
from promptops.evaluators.grounding import Feedback, Groundedness
from promptops.evaluators.judge import LLMJudge
from promptops.evaluators.text import CharLength, Contains, ExactMatch, JsonValid, Regex

BUILTIN: Mapping[str, type[OptionsEvaluator]] = {
    "exact_match": ExactMatch,
    "contains": Contains,
    "regex": Regex,
    "char_length": CharLength,
    "json_valid": JsonValid,
    "groundedness": Groundedness,
    "feedback": Feedback,
    "llm_judge": LLMJudge,
}
