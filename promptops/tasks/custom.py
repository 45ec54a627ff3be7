"""Custom tasks: a user's `module:function`, sync or async, given the item's input and a `call_model` helper.

`call_model(variables=None)` compiles the prompt under test with the item's input (updated by
`variables`) and makes the traced, retried prompt-managed call; it returns the model's text. An async
function gets an async helper. A sync function runs in a worker thread, so it cannot stall the other
items, and gets a blocking helper that hands the call back to the event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from promptops.tasks import Task, TaskContext, TaskResult
from promptops.tasks.generate import item_context, prompt_managed_call

ARGUMENTS = ("input", "call_model", "metadata")


def _accepted(func: Callable[..., Any]) -> tuple[str, ...]:
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):  # some callables have no signature: pass everything by keyword
        return ARGUMENTS
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return ARGUMENTS
    return tuple(p.name for p in params if p.name in ARGUMENTS)


def _is_async(func: Callable[..., Any]) -> bool:
    # A callable object counts by its __call__ method.
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(type(func).__call__)


def custom_task(kind: str) -> Task:
    """Return a task calling `module:function`; raise ConfigError if it cannot be imported."""
    from promptops.evaluators.custom import resolve

    func = resolve(kind)
    accepted = _accepted(func)
    is_async = _is_async(func)

    async def run(ctx: TaskContext) -> TaskResult:
        async def call_model(variables: Mapping[str, Any] | None = None) -> str:
            return await prompt_managed_call(ctx, {**ctx.item.input, **(variables or {})})

        loop = asyncio.get_running_loop()
        pending: set[concurrent.futures.Future[str]] = set()

        def call_model_blocking(variables: Mapping[str, Any] | None = None) -> str:
            future = asyncio.run_coroutine_threadsafe(call_model(variables), loop)
            pending.add(future)
            try:
                return future.result()
            finally:
                pending.discard(future)

        helper: Callable[..., Any] = call_model if is_async else call_model_blocking
        values = {"input": dict(ctx.item.input), "call_model": helper, "metadata": dict(ctx.item.metadata)}
        arguments = {name: values[name] for name in accepted}
        if is_async:
            output = await func(**arguments)
        else:
            # to_thread copies the context, so spans opened through the helper nest under the item's trace.
            try:
                output = await asyncio.to_thread(func, **arguments)
            except asyncio.CancelledError:
                # A thread cannot be cancelled, but the model call it waits for can: the thread then ends.
                for future in list(pending):
                    future.cancel()
                raise
        if isinstance(output, TaskResult):
            return output
        return TaskResult(output=output, context=item_context(ctx.item.input))

    run.__name__ = kind
    return run
