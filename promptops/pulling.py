"""Carry an edit made in the registry (a Langfuse UI edit) back into a prompt's Jinja template (pure).

The template is kept as it is, constants, includes and loops included, and only the lines the edit changed are
rewritten: a line of the rendered prompt maps back to a template line when that line is plain text and runtime
variables outside any `{% %}` block, and that is the only kind of line an edit may touch. An edit of text an
include, a loop or a macro produces cannot be expressed in the template without guessing, so it is refused.
The caller renders the result again and writes nothing unless it is the stored text exactly.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence

from promptops.errors import PromptopsError
from promptops.importing import template_for

_EXPR = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")
_NAME = re.compile(r"[A-Za-z_]\w*")
_STRING = re.compile(r"""^(?:"([^"\\]*)"|'([^'\\]*)')$""")
_BLOCK_OPEN = re.compile(r"\{%-?\s*(for|if|macro|call|filter|raw|block|with|set\s+\w+\s*%})")
_BLOCK_CLOSE = re.compile(r"\{%-?\s*end(for|if|macro|call|filter|raw|block|with|set)\b")
_BLOCK_KEY = re.compile(r"^(\s*(?:-\s+)?)([A-Za-z_][\w-]*):\s*([|>][-+0-9]*)?\s*(#.*)?$")


class PullRefused(PromptopsError):
    """The registry's edit cannot be written into the prompt's files without guessing."""


def plain_line(line: str, runtime: set[str]) -> str | None:
    """Return what a template line renders to when it is plain text and runtime variables (None otherwise)."""
    if "{%" in line or "{#" in line:
        return None
    out, pos = [], 0
    for m in _EXPR.finditer(line):
        inner = m.group(1)
        if _NAME.fullmatch(inner) and inner in runtime:
            rendered = "{{" + inner + "}}"
        elif (s := _STRING.match(inner)) is not None:
            rendered = s.group(1) if s.group(1) is not None else s.group(2)
        else:
            return None
        out += [line[pos : m.start()], rendered]
        pos = m.end()
    rest = line[pos:]
    if "{{" in rest:
        return None
    return "".join(out) + rest


def _plain_lines(template_lines: Sequence[str], runtime: set[str]) -> list[str | None]:
    """Return each template line's rendering when it is plain and outside every block, else None."""
    depth, found = 0, []
    for line in template_lines:
        opened, closed = len(_BLOCK_OPEN.findall(line)), len(_BLOCK_CLOSE.findall(line))
        plain = plain_line(line, runtime) if depth == 0 and not opened and not closed else None
        found.append(plain)
        depth = max(0, depth + opened - closed)
    return found


def edit_template(template: str, rendered: str, stored: str, runtime: Sequence[str]) -> str:
    """Return `template` with the lines changed between `rendered` (its output) and `stored` rewritten."""
    declared = set(runtime)
    added = {m.group(1) for m in re.finditer(r"\{\{([A-Za-z_]\w*)\}\}", stored)} - declared
    added -= {m.group(1) for m in re.finditer(r"\{\{([A-Za-z_]\w*)\}\}", rendered)}
    if added:
        names = ", ".join(sorted(added))
        raise PullRefused(f"the edit uses new variables ({names}): declare them under `variables:` first, then pull")
    # Rendering drops the template's final newlines (render.py): map the lines as they are rendered.
    body = template.rstrip("\n")
    suffix = template[len(body) :]
    t_lines = body.splitlines(keepends=True)
    old = rendered.splitlines(keepends=True)
    new = stored.splitlines(keepends=True)
    plains = _plain_lines(t_lines, declared)
    # Which output line each plain template line produced: align the plain renderings with the output.
    keys = [p if p is not None else f"\0template line {i}" for i, p in enumerate(plains)]
    made_by: dict[int, int] = {}
    for tag, t1, t2, o1, _ in difflib.SequenceMatcher(None, keys, old, autojunk=False).get_opcodes():
        if tag == "equal":
            made_by.update((o1 + k, t1 + k) for k in range(t2 - t1))
    edits: list[tuple[int, int, list[str]]] = []  # (first template line, end, replacement lines)
    for tag, o1, o2, n1, n2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        at_end = n2 == len(new)  # the text's final newlines are written as an expression (importing.py)
        replacement = template_for("".join(new[n1:n2]), runtime, whole=at_end).splitlines(keepends=True)
        if o1 < o2:
            lines = [made_by.get(o) for o in range(o1, o2)]
            if None in lines or lines != list(range(lines[0] or 0, (lines[0] or 0) + len(lines))):
                raise PullRefused(_unmapped(o1, o2))
            first = lines[0]
            assert first is not None
            edits.append((first, first + len(lines), replacement))
        else:  # an insertion: after the line that made the output line before it, or before the one after it
            if o1 > 0 and (o1 - 1) in made_by:
                at = made_by[o1 - 1] + 1
            elif o1 < len(old) and o1 in made_by:
                at = made_by[o1]
            elif not old:
                at = 0
            else:
                raise PullRefused(_unmapped(o1, o1 + 1))
            edits.append((at, at, replacement))
    for first, end, replacement in sorted(edits, reverse=True):
        t_lines[first:end] = replacement
    return "".join(t_lines) + suffix


def _unmapped(o1: int, o2: int) -> str:
    where = f"line {o1 + 1}" if o2 - o1 <= 1 else f"lines {o1 + 1}-{o2}"
    return (
        f"the edit changes {where} of the rendered prompt, which the template does not write as plain text (an "
        "include, a loop, a macro or a constant makes it): edit the template by hand"
    )


def replace_block(file_text: str, key_line: int, value: str) -> str:
    """Return YAML `file_text` with the block scalar of the key on `key_line` (1-based) holding `value`."""
    lines = file_text.splitlines(keepends=True)
    head = lines[key_line - 1].rstrip("\n")
    m = _BLOCK_KEY.match(head)
    if m is None or m.group(3) is None or not m.group(3).startswith("|"):
        raise PullRefused(f"line {key_line} does not start a literal block (`key: |`): edit the file by hand")
    prefix, key = m.group(1), m.group(2)
    key_col = len(prefix)
    end = key_line
    while end < len(lines):
        line = lines[end]
        if line.strip() and len(line) - len(line.lstrip(" ")) <= key_col:
            break
        end += 1
    while end > key_line and not lines[end - 1].strip():  # trailing blank lines belong to what follows
        end -= 1
    indent = " " * (key_col + 2)
    return "".join([*lines[: key_line - 1], _block(prefix, key, value, indent), *lines[end:]])


def _block(prefix: str, key: str, value: str, indent: str) -> str:
    content = value.rstrip("\n")
    trailing = len(value) - len(content)
    blockable = content and not content[0].isspace() and not any(c in content for c in "\r\t\x0b\x0c\x85")
    if not blockable:
        return f"{prefix}{key}: {json.dumps(value, ensure_ascii=False)}\n"  # a JSON string is YAML double-quoted
    chomp = "-" if trailing == 0 else ("" if trailing == 1 else "+")
    body = "".join(f"{indent}{line}\n" if line else "\n" for line in content.split("\n"))
    return f"{prefix}{key}: |{chomp}\n{body}" + "\n" * max(0, trailing - 1)
