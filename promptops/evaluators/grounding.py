"""Evaluators of a RAG answer against its context and reference: groundedness and feedback."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from promptops.evaluators.base import EvalCase, OptionsEvaluator, Score
from promptops.evaluators.text import candidates, normalise
from promptops.model import EvaluatorSpec

# Function words and contraction fragments ("don't" tokenises to "don", "t"): they occur in any context,
# so counting them would reward an answer for grammar rather than for facts.
STOPWORDS = frozenset(
    """a an the and or but if of to in on at by for with from as into about is are was were be been being
    it its this that these those there here i you he she we they me him her us them my your our their his
    do does did not no so than then too very can will would should could may might must has have had
    what which who whom whose when where why how s t d ll m re ve don doesn didn isn aren wasn weren
    hasn haven hadn couldn shouldn wouldn""".split()
)

# The ways an answer says it does not know; matched in its first sentence only, so a made-up answer
# cannot earn the don't-know credit with a disclaimer appended at the end.
_NOT = r"(?:do\s*not|don'?t|cannot|can\s*not|can'?t|am\s+unable\s+to|am\s+not\s+able\s+to)"
DONT_KNOW = re.compile(
    rf"\bi\s+{_NOT}\s+(?:know|answer|say|tell|find)\b"
    r"|\bi(?:'m|\s+am)\s+not\s+sure\b"
    r"|(?:\bnot|n't)\s+(?:in|mentioned\s+in|found\s+in|covered\s+by|provided\s+in)\s+the\s+"
    r"(?:provided\s+|given\s+)?(?:context|documents?|sources?)\b"
    r"|\b(?:context|documents?|sources?)\s+(?:does\s*not|doesn'?t|do\s*not|don'?t)\s+"
    r"(?:say|mention|contain|cover|provide)\b"
    r"|\b(?:not\s+enough|no|insufficient)\s+information\b"
)
_FIRST_SENTENCE = re.compile(r"^.*?(?:[.!?](?=\s|$)|\n|$)", re.DOTALL)


def content_words(text: str) -> set[str]:
    """Return the lowercased letter/digit runs of text that are not stopwords."""
    return {w for w in re.findall(r"[^\W_]+", text.casefold()) if w not in STOPWORDS}


def says_dont_know(answer: str) -> bool:
    """Return whether the answer's first sentence says it does not know (see DONT_KNOW)."""
    text = answer.strip().replace("\u2019", "'").casefold()
    first = _FIRST_SENTENCE.match(text)
    return bool(first and DONT_KNOW.search(first.group(0)))


class Groundedness(OptionsEvaluator):
    """NUMERIC 0..1: the share of the answer's distinct content words that occur in the context.

    Words are lowercased runs of letters/digits minus STOPWORDS. An answer whose first sentence says it
    does not know ("I don't know", "not in the provided context", ...) scores 1.0 when there is a
    context: it made nothing up. No context scores 0.0 ("no context"); an answer without content words
    scores 0.0. Option `threshold` sets the pass rate's cut-off for summaries.
    """

    DATA_TYPE = "NUMERIC"
    OPTIONS = {"threshold": "number"}

    async def evaluate(self, case: EvalCase) -> Score:
        """Score the share of grounded content words."""
        if not case.context or not case.context.strip():
            return self.score(0.0, "no context")
        if says_dont_know(case.output):
            return self.score(1.0, "answer says it does not know")
        words = content_words(case.output)
        if not words:
            return self.score(0.0, "answer has no content words")
        unsupported = sorted(words - content_words(case.context))
        value = (len(words) - len(unsupported)) / len(words)
        comment = f"not in context: {', '.join(unsupported[:10])}" if unsupported else None
        return self.score(value, comment)


DEFAULT_FEEDBACK_MAPPING: Mapping[str, float] = {"positive": 1.0, "neutral": 0.5, "negative": 0.0}


class Feedback(OptionsEvaluator):
    """CATEGORICAL positive/neutral/negative, a simulated user's reaction (the seed's `user_feedback`).

    positive: the answer contains an expected answer (both normalised as exact_match does by default);
    neutral: otherwise, the answer says it does not know (as for groundedness); negative: anything else.
    Option `mapping` gives the categories numeric values for summaries and the gate; keys it omits keep
    the defaults positive=1, neutral=0.5, negative=0. Option `threshold` sets the pass rate's cut-off.
    """

    DATA_TYPE = "CATEGORICAL"
    OPTIONS = {"mapping": "number_map", "threshold": "number"}

    def __init__(self, spec: EvaluatorSpec) -> None:
        super().__init__(spec)
        self.mapping = {**DEFAULT_FEEDBACK_MAPPING, **spec.options.get("mapping", {})}

    @classmethod
    def option_problems(cls, options: Mapping[str, Any]) -> list[str]:
        """Reject mapping keys that are not categories."""
        known = ", ".join(DEFAULT_FEEDBACK_MAPPING)
        return [
            f"options.mapping.{key}: not a category (known: {known})"
            for key in options.get("mapping", {})
            if key not in DEFAULT_FEEDBACK_MAPPING
        ]

    async def evaluate(self, case: EvalCase) -> Score:
        """Score positive, neutral or negative."""
        answer = normalise(case.output)
        wanted = [w for w in (normalise(c) for c in candidates(case.expected_output)) if w]
        if any(w in answer for w in wanted):
            return self.score("positive")
        if says_dont_know(case.output):
            return self.score("neutral", "answer says it does not know")
        return self.score("negative")
