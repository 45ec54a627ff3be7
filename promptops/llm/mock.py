"""mock-llm-v1: a deterministic, prompt-sensitive model; its frozen rules are spelled out in docs/mock-llm.md.

Changing what this module answers for any prompt is a new model name, never an edit: baselines stored in a
registry were scored against these exact rules.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from promptops.errors import ModelError
from promptops.llm.base import Completion, LLMRequest

NAME = "mock-llm-v1"
LANGFUSE_SENTENCE = (
    "Langfuse is an open-source LLM engineering platform for observability, prompt management, evaluation and datasets."
)
IDK = "I don't know based on the provided context."
JUDGE_LINE = "reply with exactly one word: pass or fail."
HANG_S = 3600.0  # a simulated timeout outlasts any sensible item timeout; the runner cancels it
OPTION_NAMES = ("failure_rate", "latency_jitter_ms", "latency_ms", "timeout_rate")

CAPITALS: Mapping[str, str] = {
    "Argentina": "Buenos Aires", "Australia": "Canberra", "Austria": "Vienna", "Belgium": "Brussels",
    "Brazil": "Brasilia", "Canada": "Ottawa", "Chile": "Santiago", "China": "Beijing", "Colombia": "Bogota",
    "Czechia": "Prague", "Denmark": "Copenhagen", "Egypt": "Cairo", "Ethiopia": "Addis Ababa",
    "Finland": "Helsinki", "France": "Paris", "Germany": "Berlin", "Ghana": "Accra", "Greece": "Athens",
    "Hungary": "Budapest", "India": "New Delhi", "Indonesia": "Jakarta", "Iran": "Tehran",
    "Ireland": "Dublin", "Italy": "Rome", "Japan": "Tokyo", "Kenya": "Nairobi", "Mexico": "Mexico City",
    "Morocco": "Rabat", "New Zealand": "Wellington", "Nigeria": "Abuja", "Norway": "Oslo",
    "Pakistan": "Islamabad", "Peru": "Lima", "Poland": "Warsaw", "Portugal": "Lisbon", "Russia": "Moscow",
    "Saudi Arabia": "Riyadh", "South Africa": "Pretoria", "South Korea": "Seoul", "Spain": "Madrid",
    "Sweden": "Stockholm", "Switzerland": "Bern", "Thailand": "Bangkok", "Turkey": "Ankara",
    "Ukraine": "Kyiv", "Vietnam": "Hanoi", "the Netherlands": "Amsterdam", "the Philippines": "Manila",
    "the United Kingdom": "London", "the United States": "Washington, D.C.",
}  # fmt: skip
ALIASES: Mapping[str, str] = {
    "usa": "the United States",
    "uk": "the United Kingdom",
    "czech republic": "Czechia",
}
WRONG_CITIES = (
    "Sydney", "Toronto", "Rio de Janeiro", "Istanbul", "Lyon", "Munich", "Milan", "Barcelona",
    "Zurich", "Osaka", "Shanghai", "Mumbai", "Lagos", "Casablanca", "Auckland", "Geneva",
)  # fmt: skip
WRONG_OTHER = ("42", "1987", "Seven", "Blue", "Python", "Tuesday", "Mount Everest", "Albert Einstein")

BARE_PHRASES = (
    "only the city name", "only the name", "only the capital", "only the answer", "just the name",
    "just the answer", "one word", "single word", "no explanation",
)  # fmt: skip
JSON_PHRASES = ("in json", "as json", "json object", "json format", "valid json")
GROUNDED_PHRASES = (
    "only the provided context", "only the given context", "only the supplied context", "only the context",
    "only the information in the context", "only on the context", "only from the context",
    "only use the context",
)  # fmt: skip
TONES: Mapping[str, tuple[str, str]] = {  # checked in this order: (opener, closer)
    "polite": ("Thank you for your question. ", " I hope this helps."),
    "formal": ("Certainly. ", ""),
    "friendly": ("Hi there! ", " Have a great day!"),
    "casual": ("Sure! ", ""),
}
STOPWORDS = frozenset(
    "a an the of in on at to for from by with and or but not no is are was were be been being am do does "
    "did has have had what which who whom whose when where why how it its this that these those as into "
    "about than then there i you he she we they me my your our their can could would should will shall "
    "may might please tell".split()
)


@dataclass(frozen=True)
class Answer:
    """An answer in its two shapes; `exact` answers (I don't know) never get a tone."""

    bare: str
    sentence: str
    exact: bool = False


# --- hashing: every "random" choice is a SHA-256 of fixed parts, so it reproduces everywhere ---------


def _digest(*parts: object) -> int:
    data = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big")


def unit(*parts: object) -> float:
    """Return a reproducible number in [0, 1) for these parts."""
    return _digest(*parts) / 2**64


def pick(choices: Sequence[str], *parts: object) -> str:
    """Return a reproducible choice for these parts."""
    return choices[_digest(*parts) % len(choices)]


# --- pure helpers: what the prompt says ----------------------------------------------------------


def words(text: str) -> list[str]:
    """Return the lowercase runs of letters and digits in text."""
    return re.findall(r"[^\W_]+", text.lower())


def normalise(text: str) -> str:
    """Return text lowercased, punctuation removed and whitespace collapsed."""
    return " ".join(re.sub(r"[^\w\s]|_", "", text.lower()).split())


def prompt_key(messages: Sequence[Mapping[str, str]]) -> str:
    """Return the canonical text of a prompt that the hashes are keyed by."""
    return json.dumps([[m.get("role", ""), m.get("content") or ""] for m in messages], ensure_ascii=False)


def split_context(text: str) -> tuple[str, str]:
    """Split one message into (context, everything else)."""
    tagged = re.compile(r"<context>(.*?)</context>", re.IGNORECASE | re.DOTALL)
    blocks = tagged.findall(text)
    if blocks:
        return "\n".join(b.strip() for b in blocks), tagged.sub(" ", text)
    context: list[str] = []
    rest: list[str] = []
    inside = False
    for line in text.splitlines():
        if inside and line.strip():
            context.append(line.strip())
        elif line.lstrip().lower().startswith("context:"):
            inside = True
            context.append(line.lstrip()[len("context:") :].strip())
        else:
            inside = False
            rest.append(line)
    return "\n".join(c for c in context if c), "\n".join(rest)


def _prompt_text(messages: Sequence[Mapping[str, str]]) -> str:
    return "\n".join(m.get("content") or "" for m in messages if m.get("role") in ("system", "user"))


def find_context(messages: Sequence[Mapping[str, str]]) -> str:
    """Return the context given in any message (<context> blocks, else `Context:` sections)."""
    parts = (split_context(m.get("content") or "")[0] for m in messages)
    return "\n".join(p for p in parts if p)


def find_instructions(messages: Sequence[Mapping[str, str]]) -> str:
    """Return the system and user text without its context, lowercased, whitespace collapsed."""
    texts = (split_context(m.get("content") or "")[1] for m in messages if m.get("role") in ("system", "user"))
    return " ".join(" ".join(texts).lower().split())


def find_question(messages: Sequence[Mapping[str, str]]) -> str:
    """Return the question: in the last user message, after `Question:`, else its last `?` sentence."""
    users = [m for m in messages if m.get("role") == "user"] or list(messages)
    text = split_context(users[-1].get("content") or "")[1] if users else ""
    pieces = re.split("question:", text, flags=re.IGNORECASE)
    after = pieces[-1].split("\n", 1)[0].strip() if len(pieces) > 1 else ""
    if after:
        return after
    asked = re.findall(r"[^.!?\n]*\?", text)
    return asked[-1].strip() if asked else text.strip()


def has_any(instructions: str, phrases: Sequence[str]) -> bool:
    """Return whether the instructions contain one of the phrases."""
    return any(p in instructions for p in phrases)


# --- rules: each turns a question into an Answer ---------------------------------------------------


def find_country(question: str) -> str | None:
    """Return the country (as CAPITALS names it) mentioned first in the question."""
    text = f" {' '.join(words(question))} "
    names = {n.removeprefix("the ").lower(): n for n in CAPITALS} | dict(ALIASES)
    found = [(text.find(f" {key} "), -len(key), name) for key, name in names.items() if f" {key} " in text]
    return min(found)[2] if found else None


def known_fact(question: str) -> Answer | None:
    """Answer from the fact table: Langfuse, or the capital of a known country."""
    tokens = words(question)
    if "langfuse" in tokens:
        return Answer(LANGFUSE_SENTENCE, LANGFUSE_SENTENCE)
    country = find_country(question) if "capital" in tokens else None
    if country is None:
        return None
    capital = CAPITALS[country]
    return Answer(capital, f"The capital of {country} is {capital}".rstrip(".") + ".")


def wrong_answer(question: str, *key: object) -> Answer:
    """Return a plausible wrong answer chosen by key: a city for capital questions."""
    if "capital" not in words(question):
        other = pick(WRONG_OTHER, *key)
        return Answer(other, f"The answer is {other}.")
    city = pick(WRONG_CITIES, *key)
    country = find_country(question)
    return Answer(city, f"The capital of {country} is {city}." if country else f"The capital is {city}.")


def context_sentences(context: str) -> list[str]:
    """Split context into sentences: per line, after `.`, `!` or `?` and a space; bullets dropped."""
    parts = (p for line in context.splitlines() for p in re.split(r"(?<=[.!?])\s+", line.strip()))
    cleaned = (re.sub(r"^[-*]\s+", "", p.strip()) for p in parts)
    return [s for s in cleaned if words(s)]


def grounded_answer(question: str, context: str) -> Answer:
    """Answer with the context sentence sharing the most content words with the question."""
    asked = set(words(question)) - STOPWORDS
    best, overlap = "", 0
    for sentence in context_sentences(context):
        shared = len(asked & set(words(sentence)))
        if shared > overlap:  # strictly greater: the earliest sentence wins a tie
            best, overlap = sentence, shared
    if not asked or overlap < min(2, len(asked)):
        return Answer(IDK, IDK, exact=True)
    new = [w.strip(".,;:!?\"'()") for w in best.split() if set(words(w)) - STOPWORDS - asked]
    return Answer(" ".join(new) or best, best)


def judge(prompt_text: str) -> str:
    """Return PASS or FAIL for the `Expected answer:` and `Answer:` fields of a judge prompt."""
    lines = prompt_text.splitlines()
    expected, answer = normalise(_field(lines, "expected answer:")), normalise(_field(lines, "answer:"))
    if expected:
        passed = f" {expected} " in f" {answer} "
    else:
        passed = bool(answer) and not re.search(r"\bi (dont|do not) know\b", answer)
    return "PASS" if passed else "FAIL"


def _field(lines: Sequence[str], key: str) -> str:
    # A value runs on over following lines until the next field line or the reply line.
    stops = ("expected answer:", "answer:", "question:")
    for i, line in enumerate(lines):
        if line.strip().lower().startswith(key):
            value = [line.strip()[len(key) :]]
            for more in lines[i + 1 :]:
                low = " ".join(more.lower().split())
                if low.startswith(stops) or JUDGE_LINE in low:
                    break
                value.append(more)
            return "\n".join(value).strip()
    return ""


def render(answer: Answer, instructions: str) -> str:
    """Shape an answer as the instructions ask: JSON, the bare fact, or a sentence with a tone."""
    if has_any(instructions, JSON_PHRASES):
        return json.dumps({"answer": answer.bare}, ensure_ascii=False)
    if has_any(instructions, BARE_PHRASES):
        return answer.bare
    tone = next((TONES[t] for t in TONES if re.search(rf"\b{t}\b", instructions)), ("", ""))
    return answer.sentence if answer.exact else f"{tone[0]}{answer.sentence}{tone[1]}"


def respond(messages: Sequence[Mapping[str, str]], temperature: float = 0.0, seed: int = 0) -> str:
    """Return mock-llm-v1's reply to a prompt: the whole model, without latency or failures."""
    key = prompt_key(messages)
    drifted = temperature > 0 and unit("drift", seed, key) < min(1.0, temperature / 2)
    text = _prompt_text(messages)
    if JUDGE_LINE in " ".join(text.lower().split()):
        verdict = judge(text)
        return {"PASS": "FAIL", "FAIL": "PASS"}[verdict] if drifted else verdict
    instructions, question = find_instructions(messages), find_question(messages)
    if drifted:
        answer = wrong_answer(question, "drift", seed, key)
    elif has_any(instructions, GROUNDED_PHRASES):
        answer = grounded_answer(question, find_context(messages))
    else:
        answer = known_fact(question) or wrong_answer(question, "wrong", normalise(question))
    return render(answer, instructions)


# --- the provider: options, simulated latency and failures, token counts ---------------------------


def check_options(options: Mapping[str, Any]) -> dict[str, float]:
    """Return the mock's options with defaults, or raise ModelError naming the known ones."""
    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        raise ModelError(f"{NAME}: unknown option {', '.join(unknown)}; known options: {', '.join(OPTION_NAMES)}")
    values: dict[str, float] = {}
    for name in OPTION_NAMES:
        value = options.get(name, 0)
        top = 1.0 if name.endswith("_rate") else math.inf
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= top:
            wanted = "a number from 0 to 1" if top == 1.0 else "a number >= 0"
            raise ModelError(f"{NAME}: option {name} must be {wanted}, got {value!r}")
        values[name] = float(value)
    return values


class MockLLM:
    """The mock-llm-v1 provider."""

    name = NAME
    simulated_latency = True  # an item's latency is the simulated one (docs/mock-llm.md §9), not wall time

    def __init__(self, model: str = NAME, options: Mapping[str, Any] | None = None) -> None:
        self.options = dict(options or {})
        check_options(self.options)  # a typo in model_options fails at lookup, before any item runs

    async def complete(self, request: LLMRequest) -> Completion:
        """Return the mock's completion, after any simulated latency, timeout or failure."""
        opts = check_options({**self.options, **request.options})
        draw = (request.seed, prompt_key(request.messages), request.attempt)
        delay_s = (opts["latency_ms"] + unit("jitter", *draw) * opts["latency_jitter_ms"]) / 1000
        if unit("timeout", *draw) < opts["timeout_rate"]:
            await asyncio.sleep(HANG_S)
            raise ModelError(f"{NAME}: simulated timeout (no reply after {HANG_S:.0f} s)", retriable=True)
        await asyncio.sleep(delay_s)
        if unit("failure", *draw) < opts["failure_rate"]:
            raise ModelError(f"{NAME}: simulated transient failure (attempt {request.attempt})", retriable=True)
        text = respond(request.messages, request.temperature, request.seed)
        if request.max_tokens is not None and len(text.split()) > request.max_tokens:
            text = " ".join(text.split()[: request.max_tokens])
        return Completion(
            text=text,
            model=NAME,
            input_tokens=sum(len((m.get("content") or "").split()) for m in request.messages),
            output_tokens=len(text.split()),
            latency_s=delay_s,
        )
