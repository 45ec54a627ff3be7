"""Custom evaluators: a user's `module:function`, imported only when it is checked or built."""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from types import UnionType
from typing import Any

from promptops.errors import ConfigError
from promptops.evaluators.base import DataType, EvalCase, OptionsEvaluator, Score
from promptops.model import EvaluatorSpec
from promptops.usercode import building

ARGUMENTS = ("input", "output", "expected_output", "metadata", "context")
_KIND = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
# bool first: it is an int too.
_INFERRED: tuple[tuple[type | UnionType, DataType], ...] = (
    (bool, "BOOLEAN"),
    (int | float, "NUMERIC"),
    (str, "CATEGORICAL"),
)


def resolve(kind: str) -> Callable[..., Any]:
    """Import `module:function` (function may be a dotted path); raise ConfigError if that fails."""
    if not _KIND.match(kind):
        raise ConfigError(f"{kind!r} is not module:function")
    module_name, _, attr_path = kind.partition(":")
    with building(f"cannot import {module_name!r}"):  # user code: whatever importing it raises is reported
        target: Any = importlib.import_module(module_name)
    with building(f"cannot look up {kind}"):  # a module's __getattr__ is user code too
        for attr in attr_path.split("."):
            if not hasattr(target, attr):
                raise ConfigError(f"{module_name!r} has no attribute {attr_path!r}")
            target = getattr(target, attr)
        if not callable(target):
            raise ConfigError(f"{kind} is not callable")
    return target  # type: ignore[no-any-return]


def _parameters(func: Callable[..., Any]) -> list[inspect.Parameter] | None:
    try:
        return list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):  # some builtins have no signature
        return None


def accepted_arguments(func: Callable[..., Any]) -> tuple[str, ...]:
    """Return which of ARGUMENTS to pass: all for **kwargs or no signature, else those the signature names."""
    params = _parameters(func)
    if params is None or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return ARGUMENTS
    return tuple(p.name for p in params if p.name in ARGUMENTS and p.kind is not inspect.Parameter.POSITIONAL_ONLY)


def required_unknown(func: Callable[..., Any]) -> list[str]:
    """Return the function's required parameters that promptops does not pass."""
    return [
        p.name
        for p in _parameters(func) or ()
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        and (p.name not in ARGUMENTS or p.kind is inspect.Parameter.POSITIONAL_ONLY)
    ]


class CustomEvaluator(OptionsEvaluator):
    """A user function called with keyword arguments input, output, expected_output, metadata, context.

    It may take any subset of them (or **kwargs) and be sync or async. It returns a Score (renamed to this
    evaluator's name), a bool (BOOLEAN), an int/float (NUMERIC), a str (CATEGORICAL) or a dict
    {value, data_type?, comment?}; anything else raises TypeError naming the function. Options:
    `data_type` (declare the type; results of another type raise TypeError; undeclared, each result's
    type decides and the evaluator's nominal type is NUMERIC), `threshold` and `mapping` (for summaries).
    """

    DATA_TYPE = "NUMERIC"
    OPTIONS = {"data_type": "data_type", "threshold": "number", "mapping": "number_map"}

    def __init__(self, spec: EvaluatorSpec) -> None:
        super().__init__(spec)
        self.declared: str | None = spec.options.get("data_type")
        if self.declared is not None:
            self.data_type = spec.options["data_type"]
        self.mapping = spec.options.get("mapping")
        self.function = resolve(spec.kind)
        with building(f"evaluator {spec.name!r}"):  # inspecting a callable can run its code (__signature__)
            self.arguments = accepted_arguments(self.function)

    @classmethod
    def problems(cls, spec: EvaluatorSpec) -> list[str]:
        """Return option problems and whether `kind` is a well-formed module:function.

        The module is deliberately not imported: validation runs on pull requests in CI, where importing a
        module the PR names would run its code next to the secrets. Import problems surface when it runs.
        """
        found = super().problems(spec)
        if not _KIND.match(spec.kind):
            found.append(f"kind: {spec.kind!r} is not module:function")
        return found

    @classmethod
    def import_problems(cls, spec: EvaluatorSpec) -> list[str]:
        """Return whether the function imports and can be called as promptops calls it (imports user code)."""
        try:
            func = resolve(spec.kind)
        except ConfigError as exc:
            return [f"kind: {exc}"]
        passed = ", ".join(ARGUMENTS)
        return [f"kind: {spec.kind} requires {name!r}, promptops passes {passed}" for name in required_unknown(func)]

    async def evaluate(self, case: EvalCase) -> Score:
        """Call the function and turn its result into a Score."""
        values = {name: getattr(case, name) for name in self.arguments}
        result = self.function(**values)
        if inspect.isawaitable(result):
            result = await result
        score = self._to_score(result)
        if self.declared is not None and score.data_type != self.declared:
            raise TypeError(f"{self.kind} returned a {score.data_type} score, declared data_type {self.declared}")
        return score

    def _to_score(self, result: Any) -> Score:
        if isinstance(result, Score):
            return replace(result, name=self.name)
        data_type: Any  # a dict's data_type is unchecked here: Score checks it
        if isinstance(result, Mapping):
            extra = set(result) - {"value", "data_type", "comment"}
            if "value" not in result or extra:
                raise TypeError(f"{self.kind} returned a dict; expected keys value, data_type?, comment?")
            value, data_type, comment = result["value"], result.get("data_type"), result.get("comment")
        else:
            value, data_type, comment = result, None, None
        if comment is not None and not isinstance(comment, str):
            raise TypeError(f"{self.kind} returned a comment that is not a string: {comment!r}")
        if data_type is None:
            data_type = next((name for kind, name in _INFERRED if isinstance(value, kind)), None)
        if data_type is None:
            raise TypeError(
                f"{self.kind} returned {type(value).__name__}; expected Score, bool, int, float, str or dict"
            )
        try:
            return Score(self.name, value, data_type, comment)
        except (TypeError, ValueError) as exc:  # say whose value it was: the Score alone cannot
            raise TypeError(f"{self.kind} returned an invalid score: {exc}") from exc
