"""Turn registry versions into prompt files that render back to them byte for byte (pure: text in, text out).

Langfuse stores text with `{{var}}` placeholders; a prompt file is a Jinja template. So a placeholder of the
exact form `{{name}}` becomes a declared runtime variable (`{{ name }}`, which renders to `{{name}}` again), and
everything else that Jinja would read as syntax is written so that it renders to itself: every `{` that opens
`{{`, `{%` or `{#` (or ends a piece of literal text, where the next piece could complete one) is written as
`{{ "{" }}`. Text promptops would not store (a placeholder written with spaces, `{{ name }}`, or a `{{` the
JS SDK cannot compile) fails validation like any prompt file, so such a prompt is reported, not written.
Prompt references (`@@@langfusePrompt:name=...|label=...@@@`) are plain text to Jinja and stay references:
Langfuse resolves them when applications read the prompt, as before (the experiment runs the text as stored).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

import yaml

from promptops.registry.base import PromptVersion, RemoteItem, user_config
from promptops.registry.labels import is_managed

PLACEHOLDER = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}")
JINJA_LITERALS = frozenset({"true", "false", "none", "True", "False", "None"})  # not names to Jinja
RESERVED_FIRST = frozenset({"datasets", "_partials"})  # folders of prompts/ that hold no prompts
DESCRIBE_ME = "TODO: describe this variable"


def variables_in(text: str) -> list[str]:
    """Return the runtime variables a stored text uses (placeholders of the exact `{{name}}` form), in order."""
    found = [m.group(1) for m in PLACEHOLDER.finditer(text)]
    return list(dict.fromkeys(name for name in found if name not in JINJA_LITERALS))


def escape_literal(text: str) -> str:
    """Return Jinja source that renders to `text` exactly, with no variable in it."""
    out = []
    for i, ch in enumerate(text):
        if ch == "{" and (i + 1 == len(text) or text[i + 1] in "{%#"):
            out.append('{{ "{" }}')
        else:
            out.append(ch)
    return "".join(out)


def template_for(text: str, variables: Sequence[str], *, whole: bool = True) -> str:
    """Return a Jinja template that renders, with `variables` as runtime variables, to `text` byte for byte.

    Rendering drops a template's final newlines (a YAML block scalar ends with one that is not part of the
    prompt), so for a `whole` text the newlines it ends with are written as an expression that keeps them.
    """
    if whole and text.endswith("\n"):
        body = text.rstrip("\n")
        return template_for(body, variables, whole=False) + '{{ "' + "\\n" * (len(text) - len(body)) + '" }}'
    wanted = set(variables)
    out, pos = [], 0
    for m in PLACEHOLDER.finditer(text):
        if m.group(1) not in wanted:
            continue
        out.append(escape_literal(text[pos : m.start()]))
        out.append("{{ " + m.group(1) + " }}")
        pos = m.end()
    out.append(escape_literal(text[pos:]))
    return "".join(out)


def file_path(name: str) -> str | None:
    """Return the path under prompts/ whose name is `name` (`support/agent` -> `support/agent.yaml`), or None
    when the name cannot be a path there (the file then carries `name:`)."""
    parts = PurePosixPath(name).parts
    safe = all(p not in (".", "..") and not p.startswith(".") and "\\" not in p for p in parts)
    if not parts or not safe or parts[0] in RESERVED_FIRST or name != "/".join(parts) or name.endswith(".yaml"):
        return None
    return f"{name}.yaml"


def fallback_path(name: str) -> str:
    """Return a safe file path under prompts/ for a name that cannot be one (the file says `name:`)."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "prompt"
    return f"imported/{slug}.yaml"


def prompt_document(
    version: PromptVersion,
    *,
    path_name: str | None,
    experiment: Mapping[str, Any],
    source_label: str,
) -> dict[str, Any]:
    """Return the prompt file's content (as a mapping in file order) for a stored version."""
    texts = [version.prompt] if isinstance(version.prompt, str) else [m.get("content", "") for m in version.prompt]
    variables = list(dict.fromkeys(v for text in texts for v in variables_in(str(text))))
    message = f": {version.commit_message}" if version.commit_message else ""
    doc: dict[str, Any] = {}
    if path_name != version.name:
        doc["name"] = version.name
    doc["description"] = f"Imported from the registry's {source_label} (version {version.version}){message}"
    doc["type"] = "chat" if version.type == "chat" else "text"
    if isinstance(version.prompt, str):
        doc["prompt"] = template_for(version.prompt, variables)
    else:
        doc["messages"] = [_message(m, variables) for m in version.prompt]
    if variables:
        doc["variables"] = {name: {"description": DESCRIBE_ME} for name in variables}
    config = user_config(version.config)
    if config:
        doc["config"] = config
    if version.tags:
        doc["tags"] = list(version.tags)
    extra = [label for label in version.labels if not is_managed(label)]
    if extra:
        doc["labels"] = extra
    doc["experiment"] = dict(experiment)
    return doc


def _message(message: Mapping[str, str], variables: Sequence[str]) -> dict[str, str]:
    if message.get("type") == "placeholder":
        return {"placeholder": message["name"]}
    return {"role": message["role"], "content": template_for(message.get("content", ""), variables)}


def dataset_document(description: str, metadata: Mapping[str, Any], items: Sequence[RemoteItem]) -> dict[str, Any]:
    """Return a dataset file's content for a registry dataset: items with ids, input, expected output, metadata."""
    doc: dict[str, Any] = {"description": description or "Imported from the registry"}
    if metadata:
        doc["metadata"] = dict(metadata)
    rows = []
    for item in sorted(items, key=lambda i: i.id):
        row: dict[str, Any] = {
            "id": item.id,
            "input": item.input if isinstance(item.input, dict) else {"input": item.input},
        }
        if item.expected_output is not None:
            row["expected_output"] = item.expected_output
        if item.metadata:
            row["metadata"] = item.metadata
        rows.append(row)
    doc["items"] = rows
    return doc


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line text (readable in review), and keys in the order given."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def to_yaml(doc: Mapping[str, Any], header: str) -> str:
    """Return YAML text for a file document, with a comment header (PyYAML falls back to quoted scalars when a
    block scalar could not hold the text exactly, so the text always loads back as it was)."""
    body = yaml.dump(dict(doc), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)
    return f"{header}\n{body}"
