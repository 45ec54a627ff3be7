"""Compile stored prompts the way applications do at run time: what the langfuse SDK's `compile()` gives.

The SDK's compile is a plain `{{ name }}` substitution (langfuse.model.TemplateParser): each `{{` up to the next
`}}` is a variable, its name stripped; a known one becomes `str(value)` ("" for None), an unknown one stays as
it is. Chat prompts compile each message's content; a placeholder given a list of messages becomes those
messages (each compiled), a placeholder given anything else one "NOT_GIVEN" message, an unresolved one stays.

This is that algorithm, not a call into the SDK: importing `langfuse` costs about 0.4 s of every process that
compiles (an experiment on the local registry, `render`), more than a 200-item experiment itself.
tests/test_compile.py holds it equal to the installed SDK's compile on generated templates and values.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from promptops.model import RenderedPrompt

OPENING, CLOSING = "{{", "}}"
NOT_GIVEN = "NOT_GIVEN"  # the role the SDK gives a placeholder value that is not a message


def _tags(content: str) -> Iterator[tuple[str, int, int]]:
    """Yield (stripped name, start, end) of each `{{ ... }}` in order, as the SDK's parser finds them."""
    at = 0
    while at < len(content):
        start = content.find(OPENING, at)
        end = content.find(CLOSING, start) if start != -1 else -1
        if end == -1:
            return
        yield content[start + len(OPENING) : end].strip(), start, end + len(CLOSING)
        at = end + len(CLOSING)


def variable_names(content: str) -> list[str]:
    """Return the names of the `{{ ... }}` tags in `content`, repeats included (TemplateParser.find_variable_names)."""
    return [name for name, _, _ in _tags(content)]


def compile_template(content: str, values: Mapping[str, Any]) -> str:
    """Return `content` with each `{{ name }}` of a given variable replaced, as the SDK's TemplateParser does."""
    parts: list[str] = []
    at = 0
    for name, start, end in _tags(content):
        parts.append(content[at:start])
        if name in values:
            parts.append(str(values[name]) if values[name] is not None else "")
        else:
            parts.append(content[start:end])
        at = end
    parts.append(content[at:])
    return "".join(parts)


def compile_prompt(rendered: RenderedPrompt, values: Mapping[str, Any]) -> str | list[dict[str, Any]]:
    """Return what `langfuse.get_prompt(...).compile(**values)` gives for this rendered prompt."""
    if isinstance(rendered.prompt, str):
        return compile_template(rendered.prompt, values)
    compiled: list[dict[str, Any]] = []
    for message in rendered.prompt:
        if message.get("type") != "placeholder":
            compiled.append({"role": message["role"], "content": compile_template(message["content"], values)})
            continue
        name = message["name"]
        if name not in values:
            compiled.append({"type": "placeholder", "name": name})
        elif isinstance(values[name], list):
            for given in values[name]:
                if isinstance(given, dict):
                    content = compile_template(given.get("content", ""), values)
                    compiled.append({**given, "role": given.get("role", NOT_GIVEN), "content": content})
                else:
                    compiled.append({"role": NOT_GIVEN, "content": str(values[name])})
        else:
            compiled.append({"role": NOT_GIVEN, "content": str(values[name])})
    return compiled
