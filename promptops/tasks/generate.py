"""The `generate` task and the prompt-managed call every task makes: compile the prompt, call the model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from promptops.compile import compile_prompt, variable_names
from promptops.llm.base import Completion, LLMRequest
from promptops.model import RenderedPrompt
from promptops.tasks import MissingVariable, TaskContext, TaskResult


def prompt_variables(rendered: RenderedPrompt) -> list[str]:
    """Return the distinct `{{variables}}` of the stored prompt, as the SDK's compile finds them."""
    if isinstance(rendered.prompt, str):
        texts = [rendered.prompt]
    else:
        texts = [m.get("content") or "" for m in rendered.prompt if m.get("type") != "placeholder"]
    names = (name for text in texts for name in variable_names(text))
    return list(dict.fromkeys(names))


def compile_messages(rendered: RenderedPrompt, values: Mapping[str, Any]) -> list[dict[str, str]]:
    """Return the chat messages an app sends for these values; a text prompt becomes one user message.

    Raises MissingVariable when the prompt uses a variable `values` lacks: the SDK would leave `{{name}}`
    in the text silently, and the model would answer a prompt no app ever sends.
    """
    missing = [name for name in prompt_variables(rendered) if name not in values]
    if missing:
        raise MissingVariable(missing)
    filled = dict(values)
    if not isinstance(rendered.prompt, str):
        for message in rendered.prompt:
            name = message.get("name")
            if message.get("type") == "placeholder" and name and not isinstance(filled.get(name), list):
                filled[name] = []  # an item without chat history: the placeholder expands to nothing
    compiled = compile_prompt(rendered, filled)
    if isinstance(compiled, str):
        return [{"role": "user", "content": compiled}]
    return [{"role": str(m.get("role", "")), "content": str(m.get("content") or "")} for m in compiled]


def request_parameters(config: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """Return the sampling controls for a call: temperature (default 0) and max_tokens from the prompt config."""
    max_tokens = config.get("max_tokens")
    return {
        "temperature": float(config.get("temperature") or 0),
        "seed": seed,
        "max_tokens": max_tokens if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) else None,
    }


async def prompt_managed_call(ctx: TaskContext, values: Mapping[str, Any]) -> str:
    """Compile the subject's prompt with `values`, call the model as one traced generation, return the text."""
    messages = compile_messages(ctx.subject.rendered, values)
    parameters = request_parameters(ctx.subject.rendered.config, ctx.seed)
    request = LLMRequest(messages=tuple(messages), model=ctx.spec.model, options=ctx.spec.model_options, **parameters)
    with ctx.trace.generation(
        model=ctx.spec.model, messages=messages, parameters=parameters, prompt=ctx.subject
    ) as generation:
        completion = await ctx.complete(request)
        usage = {"input": completion.input_tokens, "output": completion.output_tokens}
        generation.update(output=completion.text, usage=usage, cost=cost_details(completion))
    return completion.text


def cost_details(completion: Completion) -> dict[str, float] | None:
    """Return Langfuse's cost details (USD) of a call: input, output, total; 0 when replayed, None if unpriced."""
    if completion.input_cost_usd is None or completion.output_cost_usd is None:
        return None
    total = completion.input_cost_usd + completion.output_cost_usd
    return {"input": completion.input_cost_usd, "output": completion.output_cost_usd, "total": total}


def item_context(values: Mapping[str, Any]) -> str | None:
    """Return the item's own `context` input as text, for evaluators such as groundedness."""
    context = values.get("context")
    if context is None:
        return None
    if isinstance(context, list | tuple):
        return "\n".join(str(c) for c in context)
    return str(context)


async def generate(ctx: TaskContext) -> TaskResult:
    """Answer the item: the subject's prompt compiled with the item's input, one model call."""
    output = await prompt_managed_call(ctx, ctx.item.input)
    return TaskResult(output=output, context=item_context(ctx.item.input))
