"""What every evaluator shares: the Score it returns, the case it reads, and how its options are checked."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, get_args

from promptops.model import EvaluatorSpec

DataType = Literal["NUMERIC", "CATEGORICAL", "BOOLEAN"]
DATA_TYPES: tuple[str, ...] = get_args(DataType)


@dataclass(frozen=True)
class Score:
    """One evaluator's verdict on one item, in one of Langfuse's three score types."""

    name: str
    value: float | str | bool
    data_type: DataType
    comment: str | None = None

    def __post_init__(self) -> None:
        # Checked here so a custom evaluator cannot hand the gate a NaN or a mistyped value.
        value = self.value
        if self.data_type == "BOOLEAN":
            ok = isinstance(value, bool)
        elif self.data_type == "NUMERIC":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if ok:
                if not math.isfinite(float(value)):
                    raise ValueError(f"score {self.name!r}: NUMERIC value must be finite, got {value!r}")
                object.__setattr__(self, "value", float(value))
        elif self.data_type == "CATEGORICAL":
            ok = isinstance(value, str)
        else:
            raise ValueError(f"score {self.name!r}: data_type must be one of {', '.join(DATA_TYPES)}")
        if not ok:
            raise TypeError(f"score {self.name!r}: {value!r} is not a {self.data_type} value")

    def api_value(self) -> float | str:
        """Return the value as Langfuse's score API takes it (BOOLEAN as 1.0/0.0)."""
        if isinstance(self.value, bool):
            return 1.0 if self.value else 0.0
        return self.value


@dataclass(frozen=True)
class EvalCase:
    """What an evaluator sees of one item: its variables, the model's answer, the reference and context."""

    input: Mapping[str, Any]  # the item's runtime variables
    output: str  # the model's answer
    expected_output: Any
    metadata: Mapping[str, Any]
    context: str | None = None  # retrieved documents (rag task) or the item's input["context"]


class Evaluator(Protocol):
    """Scores one case; `name` is the score name. Exceptions propagate: the runner records them."""

    name: str
    kind: str
    data_type: DataType
    threshold: float | None  # for summaries: pass_rate = share of values >= threshold
    mapping: Mapping[str, float] | None  # for summaries: numeric value of each category

    async def evaluate(self, case: EvalCase) -> Score: ...


def as_text(value: Any) -> str:
    """Return a value as text: None as "", strings as they are, anything else as sorted JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_strings(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)


def _is_number_map(value: Any) -> bool:
    return isinstance(value, Mapping) and all(isinstance(k, str) and _is_number(v) for k, v in value.items())


# Option type name -> (check, how to say what was expected).
OPTION_TYPES: Mapping[str, tuple[Callable[[Any], bool], str]] = {
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "number": (_is_number, "a number"),
    "strings": (_is_strings, "a list of strings"),
    "mapping": (lambda v: isinstance(v, Mapping), "a mapping"),
    "number_map": (_is_number_map, "a mapping of names to numbers"),
    "data_type": (lambda v: v in DATA_TYPES, f"one of {', '.join(DATA_TYPES)}"),
}


class OptionsEvaluator:
    """Base of every kind: declared options, checked before anything runs; `score` builds its Score."""

    DATA_TYPE: ClassVar[DataType]
    OPTIONS: ClassVar[Mapping[str, str]] = {}  # option name -> OPTION_TYPES key

    def __init__(self, spec: EvaluatorSpec) -> None:
        self.name = spec.name
        self.kind = spec.kind
        self.data_type: DataType = self.DATA_TYPE
        self.options = spec.options
        threshold = spec.options.get("threshold")
        self.threshold: float | None = None if threshold is None else float(threshold)
        self.mapping: Mapping[str, float] | None = None

    @classmethod
    def from_spec(cls, spec: EvaluatorSpec, *, judge_provider: Any = None) -> OptionsEvaluator:
        """Build the evaluator; only the judge uses `judge_provider`."""
        return cls(spec)

    @classmethod
    def problems(cls, spec: EvaluatorSpec) -> list[str]:
        """Return what is wrong with the spec: unknown options, wrong types, then the kind's own checks."""
        found = [] if spec.name.strip() else ["name: must not be empty"]
        typed: list[str] = []
        known = ", ".join(sorted(cls.OPTIONS)) or "none"
        for key, value in spec.options.items():
            type_name = cls.OPTIONS.get(key)
            if type_name is None:
                typed.append(f"options.{key}: unknown option for {spec.kind} (known: {known})")
                continue
            check, expected = OPTION_TYPES[type_name]
            if not check(value):
                typed.append(f"options.{key}: expected {expected}, got {value!r}")
        # The kind's own checks assume well-typed options, so they run only when the types are right.
        return found + (typed or cls.option_problems(spec.options))

    @classmethod
    def option_problems(cls, options: Mapping[str, Any]) -> list[str]:
        """Return problems across well-typed options (missing, conflicting, unparsable)."""
        return []

    def score(self, value: float | str | bool, comment: str | None = None) -> Score:
        """Return a Score under this evaluator's name and data type."""
        return Score(self.name, value, self.data_type, comment)

    async def evaluate(self, case: EvalCase) -> Score:
        """Score one case."""
        raise NotImplementedError
