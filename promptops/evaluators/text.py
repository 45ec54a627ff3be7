"""Evaluators that compare the answer's text: exact_match, contains, regex, char_length, json_valid."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from promptops.evaluators.base import EvalCase, OptionsEvaluator, Score, as_text
from promptops.model import EvaluatorSpec

# Sentence punctuation a model tends to append ("Paris."); brackets, quotes, % and the like carry meaning.
TRAILING_PUNCTUATION = ".,;:!?…"


def normalise(text: str, *, case_sensitive: bool = False, strip: bool = True, strip_punctuation: bool = True) -> str:
    """Return text as exact_match compares it: stripped, trailing punctuation removed, casefolded."""
    if strip:
        text = text.strip()
    if strip_punctuation:
        text = text.rstrip(TRAILING_PUNCTUATION)
        if strip:
            text = text.rstrip()
    return text if case_sensitive else text.casefold()


def candidates(expected: Any) -> list[str]:
    """Return the acceptable answers in an expected_output: a list means any of its entries."""
    if expected is None:
        return []
    if isinstance(expected, list | tuple):
        return [as_text(e) for e in expected]
    return [as_text(expected)]


def parse_json(text: str) -> tuple[Any, str | None]:
    """Return (value, None) when text is JSON, else (None, why not)."""
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"not JSON: {exc}"


class ExactMatch(OptionsEvaluator):
    """BOOLEAN: the answer equals the expected output after normalisation.

    Options: `case_sensitive` (default false), `strip` (surrounding whitespace, default true),
    `strip_punctuation` (trailing `.,;:!?…` only, default true), `field` (compare this key of the answer
    parsed as a JSON object; when expected_output is a mapping, its same key is the reference).
    A list expected_output accepts any of its entries; no expected_output scores False.
    """

    DATA_TYPE = "BOOLEAN"
    OPTIONS = {"case_sensitive": "bool", "strip": "bool", "strip_punctuation": "bool", "field": "str"}

    async def evaluate(self, case: EvalCase) -> Score:
        """Score True when the (normalised) answer equals an expected answer."""
        output: Any = case.output
        expected = case.expected_output
        field = self.options.get("field")
        if field is not None:
            parsed, error = parse_json(case.output)
            if error is not None:
                return self.score(False, f"output is {error}")
            if not isinstance(parsed, Mapping) or field not in parsed:
                return self.score(False, f"output has no field {field!r}")
            output = parsed[field]
            if isinstance(expected, Mapping) and field in expected:
                expected = expected[field]
        wanted = candidates(expected)
        if not wanted:
            return self.score(False, "no expected_output")
        flags = {
            "case_sensitive": self.options.get("case_sensitive", False),
            "strip": self.options.get("strip", True),
            "strip_punctuation": self.options.get("strip_punctuation", True),
        }
        answer = normalise(as_text(output), **flags)
        return self.score(any(answer == normalise(w, **flags) for w in wanted))


class Contains(OptionsEvaluator):
    """BOOLEAN: the answer contains the expected output, option `value`, or any of option `any_of`.

    Options: `value` (a string), `any_of` (a list of strings; not both), `case_sensitive` (default false).
    Without either option the expected_output is the needle (a list: any of it); an empty needle scores False.
    """

    DATA_TYPE = "BOOLEAN"
    OPTIONS = {"value": "str", "any_of": "strings", "case_sensitive": "bool"}

    @classmethod
    def option_problems(cls, options: Mapping[str, Any]) -> list[str]:
        """Reject conflicting or empty needles."""
        if "value" in options and "any_of" in options:
            return ["options: give either value or any_of, not both"]
        if options.get("value") == "":
            return ["options.value: must not be empty"]
        any_of = options.get("any_of")
        if any_of is not None and (not any_of or "" in any_of):
            return ["options.any_of: must be a non-empty list of non-empty strings"]
        return []

    async def evaluate(self, case: EvalCase) -> Score:
        """Score True when one of the needles occurs in the answer."""
        if "value" in self.options:
            needles = [self.options["value"]]
        else:
            needles = list(self.options.get("any_of", ())) or candidates(case.expected_output)
        needles = [n for n in needles if n]
        if not needles:
            return self.score(False, "nothing to look for")
        fold = not self.options.get("case_sensitive", False)
        haystack = case.output.casefold() if fold else case.output
        for needle in needles:
            if (needle.casefold() if fold else needle) in haystack:
                return self.score(True, f"found {needle!r}")
        return self.score(False)


class Regex(OptionsEvaluator):
    """BOOLEAN: option `pattern` (required, Python `re` syntax) is found anywhere in the answer (re.search).

    Use inline flags such as `(?i)` for case-insensitivity and `^...$` to match the whole answer.
    """

    DATA_TYPE = "BOOLEAN"
    OPTIONS = {"pattern": "str"}

    def __init__(self, spec: EvaluatorSpec) -> None:
        super().__init__(spec)
        self.pattern = re.compile(spec.options["pattern"])

    @classmethod
    def option_problems(cls, options: Mapping[str, Any]) -> list[str]:
        """Require a pattern that compiles."""
        if "pattern" not in options:
            return ["options.pattern: required for regex"]
        try:
            re.compile(options["pattern"])
        except re.error as exc:
            return [f"options.pattern: not a valid regular expression: {exc}"]
        return []

    async def evaluate(self, case: EvalCase) -> Score:
        """Score True when the pattern is found in the answer."""
        return self.score(self.pattern.search(case.output) is not None)


class CharLength(OptionsEvaluator):
    """NUMERIC: the answer's length in characters, as is (no stripping).

    With option `min` and/or `max` (inclusive bounds) it is BOOLEAN instead: the length is within range.
    Option `threshold` (counting mode only) sets the pass rate's cut-off for summaries.
    """

    DATA_TYPE = "NUMERIC"
    OPTIONS = {"min": "number", "max": "number", "threshold": "number"}

    def __init__(self, spec: EvaluatorSpec) -> None:
        super().__init__(spec)
        self.min: float | None = spec.options.get("min")
        self.max: float | None = spec.options.get("max")
        if self.min is not None or self.max is not None:
            self.data_type = "BOOLEAN"

    @classmethod
    def option_problems(cls, options: Mapping[str, Any]) -> list[str]:
        """Reject negative or inverted bounds, and a threshold on a range check."""
        found = [f"options.{k}: must be >= 0" for k in ("min", "max") if options.get(k, 0) < 0]
        if "min" in options and "max" in options and options["min"] > options["max"]:
            found.append("options.min: must not be greater than max")
        if "threshold" in options and ("min" in options or "max" in options):
            found.append("options.threshold: only applies without min/max (the score is then BOOLEAN)")
        return found

    async def evaluate(self, case: EvalCase) -> Score:
        """Score the length, or whether it is within [min, max]."""
        length = len(case.output)
        if self.data_type == "NUMERIC":
            return self.score(length)
        within = (self.min is None or length >= self.min) and (self.max is None or length <= self.max)
        return self.score(within, f"{length} characters")


class JsonValid(OptionsEvaluator):
    """BOOLEAN: the answer parses as JSON; with option `required_keys`, as an object with those keys."""

    DATA_TYPE = "BOOLEAN"
    OPTIONS = {"required_keys": "strings"}

    async def evaluate(self, case: EvalCase) -> Score:
        """Score True when the answer is JSON (with the required keys)."""
        parsed, error = parse_json(case.output)
        if error is not None:
            return self.score(False, error)
        required = self.options.get("required_keys", ())
        if not required:
            return self.score(True)
        if not isinstance(parsed, Mapping):
            return self.score(False, "not a JSON object")
        missing = [k for k in required if k not in parsed]
        return self.score(not missing, f"missing keys: {', '.join(missing)}" if missing else None)
