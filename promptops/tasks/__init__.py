"""Experiment tasks: what runs for one dataset item. Built-ins are looked up by name, then `module:function`.

A task takes a TaskContext and returns a TaskResult whose `output` the runner checks is a string. Model
calls go through `context.complete`, which the runner gives retries, seeds and token counting.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from promptops.errors import ExperimentError
from promptops.llm.base import Completion, LLMRequest
from promptops.model import DatasetItem, DatasetSpec, ExperimentSpec
from promptops.tracing.base import ItemTrace, Subject

__all__ = ["MissingVariable", "Task", "TaskContext", "TaskResult", "get_task", "known_tasks"]


class MissingVariable(Exception):
    """The prompt uses variables the item's input does not give; the item fails with "missing variable"."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(", ".join(names))
        self.names = names


@dataclass(frozen=True)
class TaskContext:
    """Everything a task may use for one item (one repeat)."""

    subject: Subject
    item: DatasetItem
    repeat: int
    spec: ExperimentSpec
    dataset: DatasetSpec
    trace: ItemTrace
    complete: Callable[[LLMRequest], Awaitable[Completion]]  # the provider, with the runner's retries

    @property
    def seed(self) -> int:
        """Return the model seed for this repeat."""
        return self.spec.seed + self.repeat


@dataclass(frozen=True)
class TaskResult:
    """What a task produced: the answer, the context evaluators should see, the documents it used."""

    output: Any  # the runner accepts only a str; anything else fails the item as a task error
    context: str | None = None
    documents: tuple[str, ...] = ()


Task = Callable[[TaskContext], Awaitable[TaskResult]]

# Name -> "module:attribute"; only the chosen task's module is imported.
BUILTIN: Mapping[str, str] = {
    "generate": "promptops.tasks.generate:generate",
    "rag": "promptops.tasks.rag:rag",
}


def known_tasks() -> tuple[str, ...]:
    """Return the built-in task names (a name containing ':' is a custom module:function)."""
    return tuple(BUILTIN)


def get_task(name: str) -> Task:
    """Return the task for a name: a built-in first, else a custom `module:function`."""
    target = BUILTIN.get(name)
    if target is not None:
        module_name, _, attr = target.partition(":")
        task: Task = getattr(importlib.import_module(module_name), attr)
        return task
    if ":" in name:
        from promptops.tasks.custom import custom_task
        from promptops.tasks.langchain import runnable_task
        from promptops.usercode import building

        with building(f"task {name}"):  # importing, inspecting and building user code runs it
            return runnable_task(name) or custom_task(name)
    raise ExperimentError(f"unknown task {name!r}; known tasks: {', '.join(BUILTIN)}, or a custom module:function")
