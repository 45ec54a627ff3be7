"""What the double answers: mock-llm-v1's frozen rules, and token counts a test can compute by hand.

Answers follow promptops.llm.mock.respond, so a wording change moves the scores against the double exactly as it
does against the mock (temperature and seed included: temperature > 0 makes repeats disagree), while every call
travels over HTTP through the real SDK as it would to OpenAI.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from promptops.llm.mock import respond

TOKEN = re.compile(r"\w+|[^\w\s]")
MESSAGE_OVERHEAD = 4  # tokens per message for the role and separators, roughly what OpenAI bills


def tokens(text: str) -> int:
    """Return the double's token count of a text: runs of word characters and single punctuation marks."""
    return len(TOKEN.findall(text))


def prompt_tokens(messages: Sequence[Mapping[str, str]]) -> int:
    """Return the prompt tokens the double reports for these messages."""
    return sum(tokens(m.get("content") or "") + MESSAGE_OVERHEAD for m in messages)


def answer(messages: Sequence[Mapping[str, str]], temperature: float, seed: int, max_tokens: int | None) -> str:
    """Return the double's reply: mock-llm-v1's answer, cut at max_tokens words."""
    text = respond(messages, temperature, seed)
    words = text.split()
    return " ".join(words[:max_tokens]) if max_tokens is not None and len(words) > max_tokens else text
