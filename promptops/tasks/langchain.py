"""LangChain tasks: a `module:function` that is a LangChain Runnable, or a function without arguments building one.

Per item the runnable is invoked with the item's input plus `prompt`: the prompt under test compiled with
that input (a string for a text prompt, a list of {role, content} messages for a chat prompt, ready for a
`MessagesPlaceholder("prompt")`). It returns a string or a message (its `.content` is the answer). With
Langfuse, Langfuse's CallbackHandler traces every chain step as a span of the item's trace; elsewhere the
chain is one span named after the runnable. langchain-core is imported only by the user's own module.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import sys
from typing import Any, Protocol, runtime_checkable

from promptops.errors import ConfigError
from promptops.tasks import Task, TaskContext, TaskResult
from promptops.tasks.custom import ARGUMENTS
from promptops.tasks.generate import compile_messages, item_context
from promptops.tracing.base import Subject

PROMPT_KEY = "prompt"
LANGCHAIN_MISSING = "LangChain tasks need langchain-core: pip install 'promptops[langchain]'"


@runtime_checkable
class LangChainTracing(Protocol):
    """An item trace that can trace a LangChain run itself (LangfuseTracer's, through its CallbackHandler)."""

    def langchain_config(self, prompt: Subject | None) -> dict[str, Any]:
        """Return the run config (callbacks, metadata) that traces a chain into this item's trace."""
        ...


def is_runnable(value: object) -> bool:
    """Tell whether `value` is a LangChain Runnable, without importing LangChain when nothing else has."""
    base = sys.modules.get("langchain_core.runnables.base")
    return base is not None and isinstance(value, base.Runnable)


def _lookup(kind: str) -> object | None:
    """Return what `module:attribute` names; None when it cannot be found (the custom task then says why)."""
    module_name, _, attr_path = kind.partition(":")
    try:
        target: object = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] == "langchain_core":
            raise ConfigError(f"{kind}: {LANGCHAIN_MISSING}") from None
        return None
    except Exception:  # user code: the custom task imports it again and reports the error
        return None
    for attr in attr_path.split("."):
        target = getattr(target, attr, None)
    return target


def _is_factory(target: object) -> bool:
    """Tell whether `target` is a function to call without arguments (a custom task takes input or call_model)."""
    if not callable(target) or isinstance(target, type):
        return False
    try:
        params = list(inspect.signature(target).parameters.values())
    except (TypeError, ValueError):
        return False
    return all(p.default is not p.empty and p.kind is not p.VAR_KEYWORD and p.name not in ARGUMENTS for p in params)


def is_langchain_task(kind: str) -> bool:
    """Tell whether the task `kind` is a LangChain Runnable (or a builder of one), without building it."""
    if ":" not in kind:
        return False
    target = _lookup(kind)
    return is_runnable(target) or (_is_factory(target) and sys.modules.get("langchain_core") is not None)


def runnable_task(kind: str) -> Task | None:
    """Return the task running the Runnable `kind` names or builds; None when `kind` is another custom task."""
    target = _lookup(kind)
    runnable: Any = target
    if not is_runnable(target):
        if not _is_factory(target):
            return None
        try:
            runnable = target()  # type: ignore[operator]
        except Exception as exc:  # the user's builder: report it as the task's configuration problem
            raise ConfigError(f"{kind}: building the runnable failed: {type(exc).__name__}: {exc}") from exc
        if not is_runnable(runnable):
            return None
    name: str = runnable.get_name()

    async def run(ctx: TaskContext) -> TaskResult:
        messages = compile_messages(ctx.subject.rendered, ctx.item.input)
        prompt = messages[0]["content"] if isinstance(ctx.subject.rendered.prompt, str) else messages
        chain_input = {**ctx.item.input, PROMPT_KEY: prompt}
        if isinstance(ctx.trace, LangChainTracing):
            output = await _invoke(runnable, chain_input, ctx.trace.langchain_config(ctx.subject))
        else:
            with ctx.trace.span(name, input=chain_input, kind="chain") as span:
                output = await _invoke(runnable, chain_input, None)
                span.update(output=output)
        return TaskResult(output=output, context=item_context(ctx.item.input))

    run.__name__ = kind
    return run


async def _invoke(runnable: Any, chain_input: dict[str, Any], config: dict[str, Any] | None) -> Any:
    """Invoke in a worker thread (it copies the context, so the chain's spans nest under the item's)."""
    output = await asyncio.to_thread(runnable.invoke, chain_input, config)
    return getattr(output, "content", output)  # a chain without an output parser ends in an AIMessage
