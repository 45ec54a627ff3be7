"""mock-llm-v1: exact outputs for each frozen rule (docs/mock-llm.md), its options, and provider lookup."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from promptops.errors import ModelError
from promptops.llm import get_provider, known_models
from promptops.llm.base import Completion, LLMRequest, text_request
from promptops.llm.mock import (
    BARE_PHRASES,
    CAPITALS,
    GROUNDED_PHRASES,
    IDK,
    JSON_PHRASES,
    LANGFUSE_SENTENCE,
    STOPWORDS,
    WRONG_CITIES,
    WRONG_OTHER,
    MockLLM,
    find_context,
    find_instructions,
    find_question,
    respond,
)

FRANCE = "What is the capital of France?"
GROUNDED = "Answer the question using ONLY the provided context."
JUDGE = "Reply with exactly one word: PASS or FAIL."
DOC = Path(__file__).resolve().parents[1] / "docs" / "mock-llm.md"
POLITE_PARIS = "Thank you for your question. The capital of France is Paris. I hope this helps."


def ask(prompt: str, temperature: float = 0.0, seed: int = 0) -> str:
    """Return the mock's reply to a text prompt."""
    return respond(({"role": "user", "content": prompt},), temperature, seed)


def complete(provider: MockLLM, prompt: str = FRANCE, **controls: Any) -> Completion:
    """Run one request through the provider."""
    return asyncio.run(provider.complete(text_request(prompt, "mock-llm-v1", **controls)))


# --- pure helpers ----------------------------------------------------------------------------------


def test_question_after_question_marker_wins() -> None:
    messages = ({"role": "user", "content": "Be brief. Is this ok?\nQuestion: What is the capital of Peru?\n"},)
    assert find_question(messages) == "What is the capital of Peru?"


def test_question_is_last_question_sentence_of_last_user_message() -> None:
    messages = (
        {"role": "user", "content": "What is the capital of Chile?"},
        {"role": "assistant", "content": "Santiago."},
        {"role": "user", "content": "Thanks! And what is the capital of Peru? Answer in one word."},
    )
    assert find_question(messages) == "And what is the capital of Peru?"


def test_question_is_whole_message_without_question_mark() -> None:
    messages = (
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "  Name Peru's capital.\n"},
    )
    assert find_question(messages) == "Name Peru's capital."


def test_context_from_tags_in_any_message_and_left_out_of_question_and_instructions() -> None:
    messages = (
        {"role": "system", "content": "Be FORMAL.\n<context>Lima is in Peru.</context>"},
        {"role": "user", "content": "<context>Is it polite?</context> Where is Lima?"},
    )
    assert find_context(messages) == "Lima is in Peru.\nIs it polite?"
    assert find_question(messages) == "Where is Lima?"
    assert find_instructions(messages) == "be formal. where is lima?"


def test_context_from_context_lines_up_to_blank_line() -> None:
    messages = ({"role": "user", "content": "Intro.\ncontext: Lima is in Peru.\nIt is big.\n\nWhere is Lima?"},)
    assert find_context(messages) == "Lima is in Peru.\nIt is big."
    assert find_instructions(messages) == "intro. where is lima?"


# --- facts, format and tone ------------------------------------------------------------------------

WORKED_EXAMPLES = [
    (FRANCE, "The capital of France is Paris."),
    (f"{FRANCE} Answer with only the city name.", "Paris"),
    (f"{FRANCE} Answer in one word.", "Paris"),
    (f"{FRANCE} Answer in JSON.", '{"answer": "Paris"}'),
    (f"Be polite. {FRANCE}", POLITE_PARIS),
    (f"Be polite. {FRANCE} Answer with only the city name.", "Paris"),
    ("what's the CAPITAL of france", "The capital of France is Paris."),
    ("What is the capital of Atlantis?", "The capital is Munich."),
    ("What is the capital of Atlantis? Answer with only the city name.", "Munich"),
]


@pytest.mark.parametrize(("prompt", "reply"), WORKED_EXAMPLES)
def test_worked_examples_from_the_docs(prompt: str, reply: str) -> None:
    assert ask(prompt) == reply


def test_docs_worked_examples_are_what_the_mock_answers() -> None:
    rows = re.findall(r"^\| `(.*)` \| `(.*)` \| ([01]) \|$", DOC.read_text(encoding="utf-8"), re.MULTILINE)
    assert len(rows) == 15
    for prompt, reply, exact in rows:
        assert ask(prompt.replace("\\n", "\n")) == reply
        assert int(reply == "Paris") == int(exact)


def test_docs_temperature_table_is_what_the_mock_answers() -> None:
    rows = re.findall(r"^\| ([0-9.]+) \| (.*) \|$", DOC.read_text(encoding="utf-8"), re.MULTILINE)
    assert [t for t, _ in rows] == ["0", "0.4", "1.0"]
    for temperature, cities in rows:
        expected = [f"The capital of France is {city}." for city in cities.split(" | ")]
        assert [ask(FRANCE, float(temperature), seed) for seed in range(5)] == expected


def test_docs_list_every_table_entry_and_phrase() -> None:
    text = " ".join(DOC.read_text(encoding="utf-8").split())
    assert all(f"{country} → {capital}" in text for country, capital in CAPITALS.items())
    assert ", ".join(WRONG_CITIES) in text and ", ".join(WRONG_OTHER) in text
    assert " ".join(sorted(STOPWORDS)) in text
    for phrase in (*BARE_PHRASES, *JSON_PHRASES, *GROUNDED_PHRASES):
        assert f"`{phrase}`" in text


def test_wording_moves_exact_match() -> None:
    assert ask(FRANCE) != "Paris"
    assert ask(f"{FRANCE} Answer with only the city name.") == "Paris"


def test_capital_table_is_large_and_consistent() -> None:
    assert len(CAPITALS) >= 40
    assert not set(WRONG_CITIES) & set(CAPITALS.values())
    for country, capital in {"Germany": "Berlin", "Japan": "Tokyo", "Italy": "Rome", "Spain": "Madrid",
                             "Canada": "Ottawa", "Australia": "Canberra", "Brazil": "Brasilia",
                             "Egypt": "Cairo", "Kenya": "Nairobi"}.items():  # fmt: skip
        assert ask(f"What is the capital of {country}? One word.") == capital


def test_countries_with_article_alias_and_dotted_capital() -> None:
    assert ask("What is the capital of the USA?") == "The capital of the United States is Washington, D.C."
    assert ask("Capital of the Netherlands?") == "The capital of the Netherlands is Amsterdam."
    assert ask("Is the capital of South Africa older than France's?") == "The capital of South Africa is Pretoria."


def test_langfuse_sentence_in_every_shape() -> None:
    assert ask("What is Langfuse?") == LANGFUSE_SENTENCE
    assert ask("What is Langfuse? Answer with only the answer.") == LANGFUSE_SENTENCE
    assert json.loads(ask("What is Langfuse? Reply as JSON.")) == {"answer": LANGFUSE_SENTENCE}


@pytest.mark.parametrize(
    ("instruction", "reply"),
    [
        ("Be polite.", POLITE_PARIS),
        ("Use a formal register.", "Certainly. The capital of France is Paris."),
        ("Be friendly!", "Hi there! The capital of France is Paris. Have a great day!"),
        ("Keep it casual.", "Sure! The capital of France is Paris."),
        ("Be informal and polite.", POLITE_PARIS),
        ("Be casual but formal.", "Certainly. The capital of France is Paris."),
    ],
)
def test_tone_openers_and_closers(instruction: str, reply: str) -> None:
    assert respond(({"role": "system", "content": instruction}, {"role": "user", "content": FRANCE})) == reply


def test_tone_never_applies_to_json() -> None:
    assert ask(f"Be friendly. {FRANCE} Answer in JSON.") == '{"answer": "Paris"}'


# --- grounding ---------------------------------------------------------------------------------------

PARIS_CONTEXT = "<context>Berlin is the capital of Germany. Paris is the capital of France.</context>"


def test_grounded_answer_is_best_overlapping_context_sentence() -> None:
    assert ask(f"{GROUNDED}\n{PARIS_CONTEXT}\nQuestion: {FRANCE}") == "Paris is the capital of France."


def test_grounded_bare_answer_keeps_only_the_new_words() -> None:
    prompt = f"{GROUNDED} Answer with only the city name.\n{PARIS_CONTEXT}\nQuestion: {FRANCE}"
    assert ask(prompt) == "Paris"


def test_grounded_answer_from_context_lines_with_tone() -> None:
    context = "Context: Langfuse is an open-source LLM engineering platform."
    prompt = f"Be polite. {GROUNDED}\n{context}\n\nWhat is Langfuse?"
    assert ask(prompt) == (
        "Thank you for your question. Langfuse is an open-source LLM engineering platform. I hope this helps."
    )


def test_grounded_says_i_dont_know_below_overlap_threshold_even_for_known_facts() -> None:
    context = "Context: Berlin is the capital of Germany.\nFrance is famous for wine.\n"
    assert ask(f"{GROUNDED}\n{context}\n{FRANCE}") == IDK
    assert ask(f"Be polite. {GROUNDED}\n{context}\n{FRANCE}") == IDK  # no tone on I don't know
    assert ask(f"{GROUNDED}\nContext: Langfuse is open source.\n\nWho founded Langfuse?") == IDK
    assert ask(f"{GROUNDED}\n{FRANCE}") == IDK  # no context at all
    assert ask(f"{GROUNDED} Answer in JSON.\n{FRANCE}") == json.dumps({"answer": IDK})


def test_grounding_variants() -> None:
    for wording in ("Use only the given context.", "Answer based only on the context below.",
                    "Only use the context."):  # fmt: skip
        assert ask(f"{wording}\n{PARIS_CONTEXT}\n{FRANCE}") == "Paris is the capital of France."


def test_ungrounded_unknown_is_wrong_and_reproducible() -> None:
    first = ask("Who wrote Hamlet?")
    assert first == "The answer is Albert Einstein."
    assert ask("Who wrote Hamlet?") == first
    assert ask("Who wrote Hamlet? One word.") == "Albert Einstein"  # keyed by the question, not the wording


# --- temperature and seed ----------------------------------------------------------------------------


def test_temperature_zero_ignores_seed() -> None:
    assert {ask(FRANCE, 0.0, seed) for seed in range(20)} == {"The capital of France is Paris."}


def test_temperature_reproducible_per_seed_and_varies_across_seeds() -> None:
    replies = [ask(FRANCE, 1.0, seed) for seed in range(6)]
    assert replies == [ask(FRANCE, 1.0, seed) for seed in range(6)]
    assert replies[3] == "The capital of France is Paris."
    assert replies[0] == "The capital of France is Milan."
    assert ask(FRANCE, 0.5, 0) == "The capital of France is Paris."  # same draw, lower probability


def test_temperature_two_always_drifts() -> None:
    assert all(ask(FRANCE, 2.0, seed) != "The capital of France is Paris." for seed in range(30))


def test_attempt_does_not_change_the_answer() -> None:
    provider = MockLLM()
    texts = {complete(provider, temperature=1.0, seed=0, attempt=a).text for a in range(5)}
    assert texts == {"The capital of France is Milan."}


# --- judge -------------------------------------------------------------------------------------------


def judge(expected: str | None, answer: str) -> str:
    """Return the mock's verdict on an answer, as the judge evaluator asks for it."""
    lines = ["You grade answers.", f"Question: {FRANCE}"]
    lines += [f"Expected answer: {expected}"] if expected is not None else []
    return ask("\n".join([*lines, f"Answer: {answer}", JUDGE]))


def test_judge_pass_and_fail() -> None:
    assert judge("Paris", "The capital of France is Paris.") == "PASS"
    assert judge("paris!", "PARIS") == "PASS"
    assert judge("Washington, D.C.", "It is Washington DC.") == "PASS"
    assert judge("Paris", "Comparison") == "FAIL"  # whole words only
    assert judge("Paris", "The capital of France is Lyon.") == "FAIL"
    assert judge("Paris", "") == "FAIL"


def test_judge_without_expected_answer() -> None:
    assert judge(None, "Lyon") == "PASS"
    assert judge("", "Lyon") == "PASS"
    assert judge(None, IDK) == "FAIL"
    assert judge(None, "   ") == "FAIL"


def test_judge_answer_runs_over_lines_and_ignores_format_instructions() -> None:
    prompt = f"Answer in JSON. Be polite.\nExpected answer: Paris\nAnswer: It is\nParis, of course.\n{JUDGE}"
    assert ask(prompt) == "PASS"


def test_judge_verdict_flips_when_temperature_drifts() -> None:
    prompt = f"Expected answer: Paris\nAnswer: Paris\n{JUDGE}"
    assert ask(prompt, 2.0, 0) == "FAIL"


# --- options: failures, timeouts, latency, tokens --------------------------------------------------


def test_failure_rate_is_deterministic_and_a_retry_can_succeed() -> None:
    provider = MockLLM("mock-llm-v1", {"failure_rate": 0.5})

    def outcome(seed: int, attempt: int) -> str:
        try:
            complete(provider, seed=seed, attempt=attempt)
        except ModelError as error:
            assert error.retriable
            return "fail"
        return "ok"

    assert [outcome(1, a) for a in range(3)] == ["fail", "ok", "ok"]
    assert [outcome(1, a) for a in range(3)] == ["fail", "ok", "ok"]
    assert [outcome(2, a) for a in range(3)] == ["fail", "fail", "ok"]


def test_failure_rate_bounds() -> None:
    with pytest.raises(ModelError, match="simulated transient failure"):
        complete(MockLLM("mock-llm-v1", {"failure_rate": 1}))
    assert complete(MockLLM("mock-llm-v1", {"failure_rate": 0.0})).text == "The capital of France is Paris."


def test_timeout_rate_hangs_until_cancelled() -> None:
    provider = MockLLM("mock-llm-v1", {"timeout_rate": 1.0})

    async def run() -> None:
        await asyncio.wait_for(provider.complete(text_request(FRANCE, "mock-llm-v1")), 0.01)

    with pytest.raises(TimeoutError):
        asyncio.run(run())


def test_latency_overlaps_under_concurrency_and_orders_completion() -> None:
    provider = MockLLM("mock-llm-v1", {"latency_ms": 20})
    events: list[str] = []

    async def call(name: str, latency_ms: int) -> None:
        events.append(f"start {name}")
        request = LLMRequest(messages=({"role": "user", "content": FRANCE},), model="mock-llm-v1",
                             options={"latency_ms": latency_ms})  # fmt: skip
        await provider.complete(request)
        events.append(f"end {name}")

    async def run() -> None:
        await asyncio.gather(call("slow", 60), call("fast", 0), call("default", 20))

    asyncio.run(run())
    assert events[:3] == ["start slow", "start fast", "start default"]  # all in flight at once
    assert events[3:] == ["end fast", "end default", "end slow"]


def test_latency_is_reported_and_jitter_is_deterministic() -> None:
    assert complete(MockLLM("mock-llm-v1", {"latency_ms": 5})).latency_s == 0.005
    jittery = MockLLM("mock-llm-v1", {"latency_ms": 1, "latency_jitter_ms": 4})
    first = [complete(jittery, seed=s).latency_s for s in range(3)]
    assert first == [complete(jittery, seed=s).latency_s for s in range(3)]
    assert all(0.001 <= s < 0.005 for s in first) and len(set(first)) == 3


def test_token_counts_and_max_tokens() -> None:
    completion = complete(MockLLM(), f"Be polite. {FRANCE}")
    assert (completion.input_tokens, completion.output_tokens, completion.model) == (8, 15, "mock-llm-v1")
    truncated = complete(MockLLM(), FRANCE, max_tokens=3)
    assert (truncated.text, truncated.output_tokens) == ("The capital of", 3)


def test_unknown_and_invalid_options() -> None:
    with pytest.raises(ModelError) as caught:
        get_provider("mock-llm-v1", {"latency": 5})
    assert str(caught.value) == (
        "mock-llm-v1: unknown option latency; known options: failure_rate, latency_jitter_ms, latency_ms, timeout_rate"
    )
    assert not caught.value.retriable
    with pytest.raises(ModelError, match="failure_rate must be a number from 0 to 1, got 1.5"):
        get_provider("mock-llm-v1", {"failure_rate": 1.5})
    with pytest.raises(ModelError, match="latency_ms must be a number >= 0, got True"):
        complete(MockLLM(), options={"latency_ms": True})


# --- lookup ------------------------------------------------------------------------------------------


def test_get_provider_returns_the_mock() -> None:
    provider = get_provider("mock-llm-v1", {"latency_ms": 0})
    assert isinstance(provider, MockLLM) and provider.name == "mock-llm-v1"


def test_get_provider_unknown_name_lists_known_ones() -> None:
    with pytest.raises(ModelError) as caught:
        get_provider("claude-9")
    assert str(caught.value) == (
        "unknown model 'claude-9'; known models: mock-llm-v1, openai:<model>, gpt-*, o1*, o3*, o4*"
    )
    assert known_models() == ("mock-llm-v1", "openai:<model>", "gpt-*", "o1*", "o3*", "o4*")
