"""The files a prompt is made from: its YAML, its template file, and every partial its templates include.

What `history` and provenance mean by "the commit that last changed the prompt": the newest commit touching
any of these. Includes are found statically (Jinja's `meta.find_referenced_templates`); a dynamic include
name cannot be known without rendering, so a template using one also counts every partial of the folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from promptops import files
from promptops.model import PromptSpec


def source_files(spec: PromptSpec, root: Path, prompts_root: Path) -> list[Path]:
    """Return the prompt's source files, absolute, sorted: the prompt file, its template and its includes."""
    from jinja2 import Environment, meta
    from jinja2.exceptions import TemplateSyntaxError

    env = Environment()  # parsing only, never rendering: no sandbox needed
    found = {root / spec.path, root / spec.template_path}
    todo = list(_templates(spec))
    seen: set[str] = set()
    while todo:
        source = todo.pop()
        try:
            names = list(meta.find_referenced_templates(env.parse(source)))
        except (TemplateSyntaxError, RecursionError):
            continue  # validation reports it; a broken template has no includes to follow
        for name in names:
            if name is None:  # a dynamic include: any partial may be read
                found.update(p for p in prompts_root.rglob("*.jinja") if p.is_file())
                continue
            if name in seen:
                continue
            seen.add(name)
            path = prompts_root / name
            read = files.read_text(path, root)
            if read.text is not None:
                found.add(path)
                todo.append(read.text)
    return sorted(found)


def _templates(spec: PromptSpec) -> Iterator[str]:
    if spec.template is not None:
        yield spec.template
    for message in spec.messages:
        if message.content is not None:
            yield message.content
