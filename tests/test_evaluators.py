"""Evaluators: every built-in kind and option, custom module:function forms, spec checks and lookup."""

from __future__ import annotations

import asyncio
import importlib
import sys
import textwrap
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from promptops.errors import ConfigError
from promptops.evaluators import EvalCase, Score, build_evaluator, check_spec, known_kinds
from promptops.evaluators.base import OptionsEvaluator
from promptops.evaluators.custom import CustomEvaluator
from promptops.model import EvaluatorSpec


def case(
    output: str,
    expected: Any = None,
    *,
    input: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    context: str | None = None,
) -> EvalCase:
    return EvalCase(input or {}, output, expected, metadata or {}, context)


def evaluate(kind: str, item: EvalCase, judge_provider: Any = None, **options: Any) -> Score:
    evaluator = build_evaluator(EvaluatorSpec("s", kind, options), judge_provider=judge_provider)
    return asyncio.run(evaluator.evaluate(item))


def test_known_kinds() -> None:
    assert known_kinds() == (
        "exact_match",
        "contains",
        "regex",
        "char_length",
        "json_valid",
        "groundedness",
        "feedback",
        "llm_judge",
    )


# --- Score -------------------------------------------------------------------------------------------


def test_score_keeps_numeric_values_as_float() -> None:
    score = Score("s", 3, "NUMERIC")
    assert score.value == 3.0 and isinstance(score.value, float)


@pytest.mark.parametrize(
    ("value", "data_type", "error"),
    [
        ("x", "NUMERIC", TypeError),
        (True, "NUMERIC", TypeError),
        (1, "BOOLEAN", TypeError),
        (1.0, "CATEGORICAL", TypeError),
        (float("nan"), "NUMERIC", ValueError),
        (float("inf"), "NUMERIC", ValueError),
        (1.0, "TEXT", ValueError),
    ],
)
def test_score_rejects_values_of_the_wrong_type(value: Any, data_type: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        Score("s", value, data_type)


def test_score_api_value() -> None:
    assert Score("s", True, "BOOLEAN").api_value() == 1.0
    assert Score("s", False, "BOOLEAN").api_value() == 0.0
    assert Score("s", 0.25, "NUMERIC").api_value() == 0.25
    assert Score("s", "positive", "CATEGORICAL").api_value() == "positive"


# --- exact_match -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "expected", "options", "value"),
    [
        ("Paris", "Paris", {}, True),
        ("  paris. ", "Paris", {}, True),
        ("Paris!?", "Paris", {}, True),
        ("Paris .", "Paris", {}, True),
        ("Paris", "Paris.", {}, True),
        ("(Paris)", "Paris", {}, False),
        ("42%", "42", {}, False),
        ("Paris is", "Paris", {}, False),
        ("paris", "Paris", {"case_sensitive": True}, False),
        ("Paris", "Paris", {"case_sensitive": True}, True),
        (" Paris", "Paris", {"strip": False}, False),
        ("Paris.", "Paris", {"strip": False}, True),
        ("Paris. ", "Paris", {"strip": False}, False),
        ("Paris.", "Paris", {"strip_punctuation": False}, False),
        ("Paris", ["Lyon", "paris"], {}, True),
        ("Nice", ["Lyon", "paris"], {}, False),
        ("42", 42, {}, True),
    ],
)
def test_exact_match(output: str, expected: Any, options: dict[str, Any], value: bool) -> None:
    assert evaluate("exact_match", case(output, expected), **options) == Score("s", value, "BOOLEAN")


def test_exact_match_without_expected_output_is_false() -> None:
    assert evaluate("exact_match", case("Paris")) == Score("s", False, "BOOLEAN", "no expected_output")


@pytest.mark.parametrize(
    ("output", "expected", "score"),
    [
        ('{"answer": "Paris.", "confidence": 0.9}', "paris", Score("s", True, "BOOLEAN")),
        ('{"answer": 42}', {"answer": 42, "why": "sum"}, Score("s", True, "BOOLEAN")),
        ('{"answer": 41}', {"answer": 42}, Score("s", False, "BOOLEAN")),
        (
            "Paris",
            "Paris",
            Score("s", False, "BOOLEAN", "output is not JSON: Expecting value: line 1 column 1 (char 0)"),
        ),
        ('{"city": "Paris"}', "Paris", Score("s", False, "BOOLEAN", "output has no field 'answer'")),
        ('["Paris"]', "Paris", Score("s", False, "BOOLEAN", "output has no field 'answer'")),
    ],
)
def test_exact_match_field(output: str, expected: Any, score: Score) -> None:
    assert evaluate("exact_match", case(output, expected), field="answer") == score


# --- contains ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "expected", "options", "score"),
    [
        ("The capital is Paris.", "paris", {}, Score("s", True, "BOOLEAN", "found 'paris'")),
        ("The capital is Paris.", "paris", {"case_sensitive": True}, Score("s", False, "BOOLEAN")),
        ("The capital is Paris.", "Paris", {"case_sensitive": True}, Score("s", True, "BOOLEAN", "found 'Paris'")),
        ("Lyon", ["Paris", "Lyon"], {}, Score("s", True, "BOOLEAN", "found 'Lyon'")),
        ("Happy to help", None, {"value": "happy"}, Score("s", True, "BOOLEAN", "found 'happy'")),
        ("Paris", "Paris", {"value": "Lyon"}, Score("s", False, "BOOLEAN")),
        ("Bonjour!", None, {"any_of": ["hello", "bonjour"]}, Score("s", True, "BOOLEAN", "found 'bonjour'")),
        ("Hi", "Hi", {"any_of": ["hello", "bonjour"]}, Score("s", False, "BOOLEAN")),
        ("anything", None, {}, Score("s", False, "BOOLEAN", "nothing to look for")),
        ("anything", "", {}, Score("s", False, "BOOLEAN", "nothing to look for")),
    ],
)
def test_contains(output: str, expected: Any, options: dict[str, Any], score: Score) -> None:
    assert evaluate("contains", case(output, expected), **options) == score


# --- regex -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "output", "value"),
    [
        (r"\d{3}-\d{4}", "call 555-1234 now", True),
        (r"\d{3}-\d{4}", "call me", False),
        (r"(?i)^paris$", "PARIS", True),
        (r"(?i)^paris$", "Paris is", False),
        (r"^Paris", "paris", False),
    ],
)
def test_regex(pattern: str, output: str, value: bool) -> None:
    assert evaluate("regex", case(output), pattern=pattern) == Score("s", value, "BOOLEAN")


# --- char_length -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "options", "score"),
    [
        ("hello", {}, Score("s", 5.0, "NUMERIC")),
        (" hé ", {}, Score("s", 4.0, "NUMERIC")),
        ("", {"threshold": 3}, Score("s", 0.0, "NUMERIC")),
        ("hello", {"min": 3, "max": 5}, Score("s", True, "BOOLEAN", "5 characters")),
        ("hello!", {"min": 3, "max": 5}, Score("s", False, "BOOLEAN", "6 characters")),
        ("hi", {"min": 3, "max": 5}, Score("s", False, "BOOLEAN", "2 characters")),
        ("hello", {"min": 10}, Score("s", False, "BOOLEAN", "5 characters")),
        ("hello", {"max": 10.5}, Score("s", True, "BOOLEAN", "5 characters")),
    ],
)
def test_char_length(output: str, options: dict[str, Any], score: Score) -> None:
    assert evaluate("char_length", case(output), **options) == score


def test_char_length_type_and_threshold_follow_the_options() -> None:
    counting = build_evaluator(EvaluatorSpec("len", "char_length", {"threshold": 3}))
    ranged = build_evaluator(EvaluatorSpec("len", "char_length", {"max": 3}))
    assert (counting.data_type, counting.threshold) == ("NUMERIC", 3.0)
    assert (ranged.data_type, ranged.threshold) == ("BOOLEAN", None)


# --- json_valid --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "options", "score"),
    [
        ('{"a": 1}', {}, Score("s", True, "BOOLEAN")),
        (" [1, 2] \n", {}, Score("s", True, "BOOLEAN")),
        ("not json", {}, Score("s", False, "BOOLEAN", "not JSON: Expecting value: line 1 column 1 (char 0)")),
        ('{"a": 1, "b": 2}', {"required_keys": ["a", "b"]}, Score("s", True, "BOOLEAN")),
        ('{"a": 1}', {"required_keys": ["a", "b", "c"]}, Score("s", False, "BOOLEAN", "missing keys: b, c")),
        ("[1]", {"required_keys": ["a"]}, Score("s", False, "BOOLEAN", "not a JSON object")),
        (
            "{",
            {"required_keys": ["a"]},
            Score(
                "s",
                False,
                "BOOLEAN",
                "not JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
            ),
        ),
    ],
)
def test_json_valid(output: str, options: dict[str, Any], score: Score) -> None:
    assert evaluate("json_valid", case(output), **options) == score


# --- groundedness ------------------------------------------------------------------------------------

FRANCE = "Paris is the capital of France. It has 2.1 million inhabitants."


@pytest.mark.parametrize(
    ("output", "context", "score"),
    [
        ("The capital of France is Paris.", FRANCE, Score("s", 1.0, "NUMERIC")),
        ("Paris has 2.1 million inhabitants", FRANCE, Score("s", 1.0, "NUMERIC")),
        ("Paris is a large city", FRANCE, Score("s", 1 / 3, "NUMERIC", "not in context: city, large")),
        ("Paris, Paris, Paris and Lyon", FRANCE, Score("s", 0.5, "NUMERIC", "not in context: lyon")),
        (
            "Atlantis City. I don't know more.",
            FRANCE,
            Score("s", 0.0, "NUMERIC", "not in context: atlantis, city, know, more"),
        ),
        ("It is.", FRANCE, Score("s", 0.0, "NUMERIC", "answer has no content words")),
        ("", FRANCE, Score("s", 0.0, "NUMERIC", "answer has no content words")),
        ("Paris", None, Score("s", 0.0, "NUMERIC", "no context")),
        ("Paris", "  \n", Score("s", 0.0, "NUMERIC", "no context")),
        ("I don't know.", None, Score("s", 0.0, "NUMERIC", "no context")),
    ],
)
def test_groundedness(output: str, context: str | None, score: Score) -> None:
    assert evaluate("groundedness", case(output, context=context)) == score


def test_groundedness_lists_at_most_ten_unsupported_words() -> None:
    answer = "alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo paris"
    score = evaluate("groundedness", case(answer, context=FRANCE))
    assert score.value == 1 / 12
    assert score.comment == "not in context: alpha, bravo, charlie, delta, echo, foxtrot, golf, hotel, india, juliett"


@pytest.mark.parametrize(
    "answer",
    [
        "I don't know.",
        "I don’t know the capital of Atlantis.",
        "Sorry, I do not know.",
        "i dont know",
        "I'm not sure.",
        "I cannot answer that from the documents.",
        "I can't tell.",
        "That is not in the provided context.",
        "It isn't mentioned in the documents.",
        "The context does not mention Atlantis.",
        "There is not enough information to answer.",
        "No information about that is available.",
    ],
)
def test_groundedness_credits_a_dont_know_answer_when_there_is_context(answer: str) -> None:
    assert evaluate("groundedness", case(answer, context=FRANCE)) == Score(
        "s", 1.0, "NUMERIC", "answer says it does not know"
    )


# --- feedback ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "expected", "score"),
    [
        ("The capital of France is Paris.", "Paris", Score("s", "positive", "CATEGORICAL")),
        ("the capital is PARIS", "Paris.", Score("s", "positive", "CATEGORICAL")),
        ("It is Lyon", ["Paris", "Lyon"], Score("s", "positive", "CATEGORICAL")),
        ("I don't know.", "Paris", Score("s", "neutral", "CATEGORICAL", "answer says it does not know")),
        ("I don't know.", None, Score("s", "neutral", "CATEGORICAL", "answer says it does not know")),
        ("Lyon", "Paris", Score("s", "negative", "CATEGORICAL")),
        ("Paris", None, Score("s", "negative", "CATEGORICAL")),
        ("Paris", "", Score("s", "negative", "CATEGORICAL")),
    ],
)
def test_feedback(output: str, expected: Any, score: Score) -> None:
    assert evaluate("feedback", case(output, expected)) == score


def test_feedback_mapping_defaults_and_overrides() -> None:
    default = build_evaluator(EvaluatorSpec("user_feedback", "feedback"))
    custom = build_evaluator(EvaluatorSpec("user_feedback", "feedback", {"mapping": {"neutral": 0.25}}))
    assert default.mapping == {"positive": 1.0, "neutral": 0.5, "negative": 0.0}
    assert custom.mapping == {"positive": 1.0, "neutral": 0.25, "negative": 0.0}
    assert (default.data_type, default.kind, default.name) == ("CATEGORICAL", "feedback", "user_feedback")


# --- llm_judge ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StandInRequest:
    """The documented shape of promptops.llm.base.LLMRequest, for when promptops.llm is not there yet."""

    messages: tuple[Mapping[str, str], ...]
    model: str
    temperature: float = 0.0
    seed: int = 0
    max_tokens: int | None = None
    attempt: int = 0
    options: Mapping[str, Any] = field(default_factory=dict)


@pytest.fixture
def llm_package(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """Return promptops.llm, standing in for it with LLMRequest's documented shape if it is not written yet."""
    try:
        import promptops.llm
        import promptops.llm.base  # noqa: F401
    except ImportError:
        package, base = types.ModuleType("promptops.llm"), types.ModuleType("promptops.llm.base")
        base.LLMRequest = StandInRequest  # type: ignore[attr-defined]
        base.text_request = lambda prompt, model, **controls: StandInRequest(  # type: ignore[attr-defined]
            ({"role": "user", "content": prompt},), model, **controls
        )
        package.base = base  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "promptops.llm", package)
        monkeypatch.setitem(sys.modules, "promptops.llm.base", base)
        return package
    return promptops.llm


@dataclass
class Reply:
    text: str


class FakeJudge:
    """A provider that replies with a fixed text and records what it was asked."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.requests: list[Any] = []

    async def complete(self, request: Any) -> Reply:
        self.requests.append(request)
        return Reply(self.reply)


class FakeFactory:
    def __init__(self, reply: str) -> None:
        self.judge = FakeJudge(reply)
        self.calls: list[tuple[str, Mapping[str, Any]]] = []

    def __call__(self, model: str, options: Mapping[str, Any]) -> FakeJudge:
        self.calls.append((model, options))
        return self.judge


QUESTION = case("Paris", "Paris", input={"question": "What is the capital of France?", "tone": "polite"})


def test_llm_judge_sends_the_documented_prompt(llm_package: types.ModuleType) -> None:
    factory = FakeFactory("PASS")
    assert evaluate("llm_judge", QUESTION, judge_provider=factory) == Score("s", True, "BOOLEAN", "PASS")
    assert factory.calls == [("mock-llm-v1", {})]
    (request,) = factory.judge.requests
    assert request.model == "mock-llm-v1"
    assert request.messages == (
        {
            "role": "user",
            "content": "You are grading an answer. Criteria: The answer is correct and complete.\n"
            "Question: What is the capital of France?\n"
            "Expected answer: Paris\n"
            "Answer: Paris\n"
            "Reply with exactly one word: PASS or FAIL.",
        },
    )


def test_llm_judge_without_a_question_or_expected_output(llm_package: types.ModuleType) -> None:
    factory = FakeFactory("FAIL")
    item = case("Bonjour", input={"tone": "polite", "name": "Ada"})
    assert evaluate("llm_judge", item, judge_provider=factory) == Score("s", False, "BOOLEAN", "FAIL")
    assert factory.judge.requests[0].messages[0]["content"] == (
        "You are grading an answer. Criteria: The answer is correct and complete.\n"
        'Question: {"name": "Ada", "tone": "polite"}\n'
        "Expected answer: \n"
        "Answer: Bonjour\n"
        "Reply with exactly one word: PASS or FAIL."
    )


def test_llm_judge_options(llm_package: types.ModuleType) -> None:
    factory = FakeFactory("FAIL")
    options = {"model": "gpt-4o-mini", "criteria": "The answer is polite.", "model_options": {"seed": 7}}
    item = case("No.", {"answer": "Yes"}, input={"question": "Help?"})
    assert evaluate("llm_judge", item, judge_provider=factory, **options) == Score("s", False, "BOOLEAN", "FAIL")
    assert factory.calls == [("gpt-4o-mini", {"seed": 7})]
    request = factory.judge.requests[0]
    assert request.model == "gpt-4o-mini"
    assert request.messages[0]["content"].splitlines()[:3] == [
        "You are grading an answer. Criteria: The answer is polite.",
        "Question: Help?",
        'Expected answer: {"answer": "Yes"}',
    ]


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        (" pass.\n", Score("s", True, "BOOLEAN", "pass.")),
        ("PASS - the answer names Paris", Score("s", True, "BOOLEAN", "PASS - the answer names Paris")),
        ("fail", Score("s", False, "BOOLEAN", "fail")),
    ],
)
def test_llm_judge_reads_the_verdict(llm_package: types.ModuleType, reply: str, score: Score) -> None:
    assert evaluate("llm_judge", QUESTION, judge_provider=FakeFactory(reply)) == score


@pytest.mark.parametrize("reply", ["Maybe", "", "The answer PASSES"])
def test_llm_judge_raises_on_a_reply_that_is_no_verdict(llm_package: types.ModuleType, reply: str) -> None:
    with pytest.raises(ValueError, match="expected PASS or FAIL"):
        evaluate("llm_judge", QUESTION, judge_provider=FakeFactory(reply))


def test_llm_judge_creates_its_provider_once(llm_package: types.ModuleType) -> None:
    factory = FakeFactory("PASS")
    judge = build_evaluator(EvaluatorSpec("s", "llm_judge"), judge_provider=factory)

    async def twice() -> list[Score]:
        return [await judge.evaluate(QUESTION), await judge.evaluate(QUESTION)]

    assert [s.value for s in asyncio.run(twice())] == [True, True]
    assert len(factory.calls) == 1 and len(factory.judge.requests) == 2


def test_llm_judge_defaults_to_promptops_llm(llm_package: types.ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    factory = FakeFactory("PASS")
    monkeypatch.setattr(llm_package, "get_provider", factory, raising=False)
    assert evaluate("llm_judge", QUESTION).value is True
    assert factory.calls == [("mock-llm-v1", {})]


# --- custom module:function --------------------------------------------------------------------------

EVALS = """
from promptops.evaluators import Score


def full(*, input, output, expected_output, metadata, context):
    return output == expected_output and input["q"] == "?" and metadata == {"w": 2} and context == "ctx"


def only_output(output):
    return len(output)


def everything(**kwargs):
    return {"value": "seen", "comment": ",".join(sorted(kwargs))}


async def asynchronous(output, metadata):
    return Score("renamed", metadata["w"] * 0.25, "NUMERIC", "async")


def category(output, unused=None):
    return "good"


def typed_dict(output):
    return {"value": 1, "data_type": "NUMERIC"}


def boolean_dict(output):
    return {"value": False, "comment": "why"}


class Graders:
    @staticmethod
    def shouting(output):
        return output.isupper()


def keys_dict(output):
    return {"score": 1}


def none(output):
    return None


def listed(output):
    return [1]


def nan(output):
    return float("nan")


def mistyped_dict(output):
    return {"value": "x", "data_type": "NUMERIC"}


def bad_comment(output):
    return {"value": 1, "comment": 3}


def boom(output):
    raise RuntimeError("boom")


def needs_rubric(output, rubric):
    return True


def positional_only(output, /):
    return True


not_callable = 3
"""


@pytest.fixture
def user_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put a module `po_evals` (and a `po_broken` that fails to import) on sys.path."""
    (tmp_path / "po_evals.py").write_text(textwrap.dedent(EVALS))
    (tmp_path / "po_broken.py").write_text("1 / 0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("po_evals", "po_broken"):
        monkeypatch.delitem(sys.modules, name, raising=False)  # each test imports its own copy
    importlib.invalidate_caches()
    return tmp_path


FULL = case("yes", "yes", input={"q": "?"}, metadata={"w": 2}, context="ctx")


@pytest.mark.parametrize(
    ("function", "score"),
    [
        ("full", Score("s", True, "BOOLEAN")),
        ("only_output", Score("s", 3.0, "NUMERIC")),
        ("everything", Score("s", "seen", "CATEGORICAL", "context,expected_output,input,metadata,output")),
        ("asynchronous", Score("s", 0.5, "NUMERIC", "async")),
        ("category", Score("s", "good", "CATEGORICAL")),
        ("typed_dict", Score("s", 1.0, "NUMERIC")),
        ("boolean_dict", Score("s", False, "BOOLEAN", "why")),
        ("Graders.shouting", Score("s", False, "BOOLEAN")),
    ],
)
def test_custom_function_forms(user_code: Path, function: str, score: Score) -> None:
    assert evaluate(f"po_evals:{function}", FULL) == score


@pytest.mark.parametrize(
    ("function", "error", "message"),
    [
        ("keys_dict", TypeError, "po_evals:keys_dict returned a dict; expected keys value, data_type?, comment?"),
        ("none", TypeError, "po_evals:none returned NoneType; expected Score, bool, int, float, str or dict"),
        ("listed", TypeError, "po_evals:listed returned list; expected Score, bool, int, float, str or dict"),
        ("nan", TypeError, "po_evals:nan returned an invalid score: score 's': NUMERIC value must be finite"),
        ("mistyped_dict", TypeError, "po_evals:mistyped_dict returned an invalid score: score 's': 'x' is not"),
        ("bad_comment", TypeError, "po_evals:bad_comment returned a comment that is not a string: 3"),
        ("boom", RuntimeError, "boom"),
    ],
)
def test_custom_function_errors_propagate(user_code: Path, function: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        evaluate(f"po_evals:{function}", FULL)
    assert str(info.value).startswith(message)


def test_custom_declared_data_type(user_code: Path) -> None:
    evaluator = build_evaluator(
        EvaluatorSpec("s", "po_evals:category", {"data_type": "CATEGORICAL", "mapping": {"good": 1}})
    )
    assert (evaluator.data_type, evaluator.mapping, evaluator.threshold) == ("CATEGORICAL", {"good": 1}, None)
    assert evaluate("po_evals:only_output", FULL, data_type="NUMERIC", threshold=2) == Score("s", 3.0, "NUMERIC")
    with pytest.raises(TypeError, match="po_evals:category returned a CATEGORICAL score, declared data_type BOOLEAN"):
        evaluate("po_evals:category", FULL, data_type="BOOLEAN")


def test_custom_undeclared_data_type_is_nominally_numeric(user_code: Path) -> None:
    assert build_evaluator(EvaluatorSpec("s", "po_evals:full")).data_type == "NUMERIC"


# --- check_spec and build_evaluator ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("exact_match", {"case_sensitive": True, "strip": False, "strip_punctuation": False, "field": "answer"}),
        ("contains", {"value": "x", "case_sensitive": True}),
        ("contains", {"any_of": ["x", "y"]}),
        ("regex", {"pattern": "^a+$"}),
        ("char_length", {"threshold": 10}),
        ("char_length", {"min": 0, "max": 280.5}),
        ("json_valid", {"required_keys": ["a"]}),
        ("groundedness", {"threshold": 0.8}),
        ("feedback", {"mapping": {"positive": 2, "negative": -1}, "threshold": 0.5}),
        ("llm_judge", {"model": "gpt-4o-mini", "criteria": "Polite.", "model_options": {"seed": 1}}),
    ],
)
def test_check_spec_accepts_every_documented_option(kind: str, options: dict[str, Any]) -> None:
    assert check_spec(EvaluatorSpec("s", kind, options)) == []


@pytest.mark.parametrize(
    ("kind", "options", "problems"),
    [
        (
            "exact_match",
            {"case_sensitive": "yes", "fuzzy": 1},
            [
                "options.case_sensitive: expected true or false, got 'yes'",
                "options.fuzzy: unknown option for exact_match "
                "(known: case_sensitive, field, strip, strip_punctuation)",
            ],
        ),
        ("contains", {"value": "a", "any_of": ["b"]}, ["options: give either value or any_of, not both"]),
        ("contains", {"value": ""}, ["options.value: must not be empty"]),
        ("contains", {"any_of": []}, ["options.any_of: must be a non-empty list of non-empty strings"]),
        ("contains", {"any_of": ["a", ""]}, ["options.any_of: must be a non-empty list of non-empty strings"]),
        ("contains", {"any_of": "a"}, ["options.any_of: expected a list of strings, got 'a'"]),
        ("regex", {}, ["options.pattern: required for regex"]),
        ("regex", {"pattern": 3}, ["options.pattern: expected a string, got 3"]),
        (
            "regex",
            {"pattern": "(a"},
            ["options.pattern: not a valid regular expression: missing ), unterminated subpattern at position 0"],
        ),
        ("char_length", {"min": True}, ["options.min: expected a number, got True"]),
        ("char_length", {"min": -1}, ["options.min: must be >= 0"]),
        ("char_length", {"min": 5, "max": 3}, ["options.min: must not be greater than max"]),
        (
            "char_length",
            {"max": 3, "threshold": 2},
            ["options.threshold: only applies without min/max (the score is then BOOLEAN)"],
        ),
        ("json_valid", {"required_keys": "a"}, ["options.required_keys: expected a list of strings, got 'a'"]),
        ("groundedness", {"threshold": "high"}, ["options.threshold: expected a number, got 'high'"]),
        ("groundedness", {"threshold": float("nan")}, ["options.threshold: expected a number, got nan"]),
        (
            "feedback",
            {"mapping": {"great": 1}},
            ["options.mapping.great: not a category (known: positive, neutral, negative)"],
        ),
        (
            "feedback",
            {"mapping": {"neutral": "half"}},
            ["options.mapping: expected a mapping of names to numbers, got {'neutral': 'half'}"],
        ),
        ("llm_judge", {"model_options": []}, ["options.model_options: expected a mapping, got []"]),
        (
            "llm_judge",
            {"judge": "x"},
            ["options.judge: unknown option for llm_judge (known: criteria, model, model_options)"],
        ),
        (
            "fuzzy",
            {},
            [
                "kind: unknown evaluator kind 'fuzzy'; known kinds: exact_match, contains, regex, char_length, "
                "json_valid, groundedness, feedback, llm_judge, or a custom module:function"
            ],
        ),
    ],
)
def test_check_spec_problems(kind: str, options: dict[str, Any], problems: list[str]) -> None:
    assert check_spec(EvaluatorSpec("s", kind, options)) == problems


def test_check_spec_requires_a_name() -> None:
    assert check_spec(EvaluatorSpec(" ", "regex")) == ["name: must not be empty", "options.pattern: required for regex"]


@pytest.mark.parametrize(
    ("kind", "options", "problems"),
    [
        (
            "po_evals:full",
            {"data_type": "FLOAT"},
            ["options.data_type: expected one of NUMERIC, CATEGORICAL, BOOLEAN, got 'FLOAT'"],
        ),
        (
            "po_evals:full",
            {"weight": 1},
            ["options.weight: unknown option for po_evals:full (known: data_type, mapping, threshold)"],
        ),
        ("po_evals:", {}, ["kind: 'po_evals:' is not module:function"]),
        ("po evals:full", {}, ["kind: 'po evals:full' is not module:function"]),
    ],
)
def test_check_spec_custom_problems(user_code: Path, kind: str, options: dict[str, Any], problems: list[str]) -> None:
    assert check_spec(EvaluatorSpec("s", kind, options)) == problems


@pytest.mark.parametrize(
    ("kind", "options", "problems"),
    [
        (
            "po_missing:full",
            {},
            ["kind: cannot import 'po_missing': ModuleNotFoundError: No module named 'po_missing'"],
        ),
        ("po_broken:full", {}, ["kind: cannot import 'po_broken': ZeroDivisionError: division by zero"]),
        ("po_evals:absent", {}, ["kind: 'po_evals' has no attribute 'absent'"]),
        ("po_evals:Graders.absent", {}, ["kind: 'po_evals' has no attribute 'Graders.absent'"]),
        ("po_evals:not_callable", {}, ["kind: po_evals:not_callable is not callable"]),
        (
            "po_evals:needs_rubric",
            {},
            [
                "kind: po_evals:needs_rubric requires 'rubric', promptops passes "
                "input, output, expected_output, metadata, context"
            ],
        ),
        (
            "po_evals:positional_only",
            {},
            [
                "kind: po_evals:positional_only requires 'output', promptops passes "
                "input, output, expected_output, metadata, context"
            ],
        ),
    ],
)
def test_custom_import_problems_only_when_asked(
    user_code: Path, kind: str, options: dict[str, Any], problems: list[str]
) -> None:
    spec = EvaluatorSpec("s", kind, options)
    assert check_spec(spec) == []  # validation never imports the module a prompt file names
    assert CustomEvaluator.import_problems(spec) == problems


def test_build_evaluator_unknown_kind_names_the_known_kinds() -> None:
    with pytest.raises(ConfigError) as info:
        build_evaluator(EvaluatorSpec("acc", "fuzzy"))
    assert str(info.value) == (
        "evaluator 'acc': unknown evaluator kind 'fuzzy'; known kinds: exact_match, contains, regex, "
        "char_length, json_valid, groundedness, feedback, llm_judge, or a custom module:function"
    )


def test_build_evaluator_refuses_bad_options() -> None:
    with pytest.raises(ConfigError) as info:
        build_evaluator(EvaluatorSpec("acc", "regex", {"pattern": "(", "flags": 1}))
    assert str(info.value) == ("evaluator 'acc' (regex): options.flags: unknown option for regex (known: pattern)")


def test_build_evaluator_sets_the_protocol_attributes() -> None:
    evaluator = build_evaluator(EvaluatorSpec("grounded", "groundedness", {"threshold": 0.5}))
    assert isinstance(evaluator, OptionsEvaluator)
    assert (evaluator.name, evaluator.kind, evaluator.data_type) == ("grounded", "groundedness", "NUMERIC")
    assert (evaluator.threshold, evaluator.mapping) == (0.5, None)
