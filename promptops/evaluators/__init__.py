"""Evaluators: score one experiment item. Built-in kinds are looked up by name; `module:function` is custom.

Problems found by `check_spec` start with the key they concern (`name: ...`, `kind: ...`,
`options.pattern: ...`), relative to the evaluator's entry, so `validate` can point at the line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from promptops.errors import ConfigError
from promptops.evaluators.base import EvalCase, Evaluator, OptionsEvaluator, Score
from promptops.evaluators.builtin import BUILTIN
from promptops.evaluators.custom import CustomEvaluator
from promptops.evaluators.judge import JudgeProvider
from promptops.model import EvaluatorSpec

__all__ = ["EvalCase", "Evaluator", "Score", "build_evaluator", "check_spec", "known_kinds"]


def known_kinds() -> tuple[str, ...]:
    """Return the built-in evaluator kinds (a kind containing ':' names a custom module:function)."""
    return tuple(BUILTIN)


def _lookup(kind: str) -> type[OptionsEvaluator] | None:
    return CustomEvaluator if ":" in kind else BUILTIN.get(kind)


def _unknown_kind(kind: str) -> str:
    return f"unknown evaluator kind {kind!r}; known kinds: {', '.join(BUILTIN)}, or a custom module:function"


def check_spec(spec: EvaluatorSpec) -> list[str]:
    """Return the problems with an evaluator spec, without importing or running anything."""
    cls = _lookup(spec.kind)
    if cls is None:
        return [f"kind: {_unknown_kind(spec.kind)}"]
    return cls.problems(spec)


def build_evaluator(
    spec: EvaluatorSpec, *, judge_provider: Callable[[str, Mapping[str, Any]], JudgeProvider] | None = None
) -> Evaluator:
    """Return the evaluator for a spec; raise ConfigError for an unknown kind or bad options."""
    cls = _lookup(spec.kind)
    if cls is None:
        raise ConfigError(f"evaluator {spec.name!r}: {_unknown_kind(spec.kind)}")
    problems = cls.problems(spec)
    if problems:
        raise ConfigError(f"evaluator {spec.name!r} ({spec.kind}): {'; '.join(problems)}")
    return cls.from_spec(spec, judge_provider=judge_provider)
