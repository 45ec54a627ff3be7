"""Sandboxed build-time Jinja rendering of prompts into what Langfuse stores.

Langfuse only substitutes `{{var}}` at run time (the SDK's `compile()`), so Jinja runs at build time and every
declared runtime variable comes out as a `{{name}}` placeholder. A runtime variable may therefore only be
printed as it is (`{{ name }}`): anywhere Jinja would need its value (if, for, filters, tests, calls) the
template would depend on a value that does not exist until run time, so the checks here reject it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from jinja2 import BaseLoader, StrictUndefined, TemplateNotFound
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from promptops import files, printable
from promptops.errors import RenderError
from promptops.model import Diagnostic, PromptSpec, ReadScope, RenderedPrompt
from promptops.sandbox import MAX_RENDERED_CHARS, BoundedSandbox, RenderTimeout, bounded, deadline
from promptops.template_check import Partials, Template, TemplateChecker
from promptops.usercode import describe, one_line

CHECK_SECONDS = 2.0  # the static checks of one prompt and its partials
MAX_INCLUDE_NAME = 1024  # characters of an include path
MAX_NAME_COMPONENT = 255  # bytes of one path component (NAME_MAX on Linux and macOS)
# What Langfuse's compile() treats as a variable: `{{`, then anything up to the next `}}` (REFERENCE §3.2).
LANGFUSE_VARIABLE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


def placeholder(name: str) -> str:
    """Return the Langfuse placeholder for a runtime variable."""
    return "{{" + name + "}}"


class _PromptsLoader(BaseLoader):
    """Load includes from the prompts folder only, as files.read_text reads them: links and paths that leave it,
    dot-files, non-regular files and names no file system accepts are refused (TemplateNotFound says why)."""

    def __init__(self, scope: ReadScope, project_root: Path) -> None:
        self.scope = scope
        self.project_root = project_root

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Callable[[], bool]]:
        bad = printable.unsafe_char(template)
        if bad is not None:
            raise TemplateNotFound(f"{printable.escaped(template)!r} (the name contains {printable.describe(bad)})")
        if (
            template.startswith("/")
            or len(template) > MAX_INCLUDE_NAME
            or any(len(part.encode()) > MAX_NAME_COMPONENT for part in template.split("/"))
        ):
            raise TemplateNotFound(f"{template[:80]!r} (includes must stay inside the prompts folder, as short paths)")
        path = self.scope.prompts_root / template
        try:
            target = path.resolve()
        except (OSError, RuntimeError, ValueError):  # a link loop, a name the OS refuses
            raise TemplateNotFound(f"{template} (a broken or looping link)") from None
        if not target.is_relative_to(self.scope.prompts_root):
            raise TemplateNotFound(f"{template} (includes must stay inside the prompts folder)")
        if not (path.exists() or path.is_symlink()):
            raise TemplateNotFound(template)
        read = files.read_text(path, self.project_root, scope=self.scope)
        if read.problem is not None or read.text is None:
            raise TemplateNotFound(f"{template} ({read.problem.message if read.problem else 'unreadable'})")
        mtime = target.stat().st_mtime_ns
        return read.text, str(target), lambda: target.exists() and target.stat().st_mtime_ns == mtime


@functools.lru_cache(maxsize=8)
def environment(scope: ReadScope, project_root: Path) -> SandboxedEnvironment:
    """Return the sandboxed Jinja environment for a project's prompts (cached: partials compile once)."""
    return BoundedSandbox(
        loader=_PromptsLoader(scope, project_root),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,  # a partial's final newline separates it from what follows
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _templates(spec: PromptSpec) -> Iterator[Template]:
    """Yield a prompt's own templates as they render (without the final newline a YAML block scalar adds)."""
    if spec.type == "text":
        yield Template(_source(spec.template or ""), spec.template_path, spec.template_line)
        return
    for message in spec.messages:
        if message.content is not None:
            yield Template(_source(message.content), spec.path, message.line or 1)


def _source(template: str) -> str:
    return template.rstrip("\n")  # YAML block scalars end with a newline that is not part of the prompt


def check_prompt(
    spec: PromptSpec,
    prompts_root: Path,
    project_root: Path,
    *,
    scope: ReadScope | None = None,
    partials: Partials | None = None,
    included: set[str] | None = None,
) -> tuple[list[Diagnostic], RenderedPrompt | None]:
    """Return a prompt's template problems (syntax, undeclared and misused variables, unsafe code) and, when it
    rendered cleanly, the rendered prompt, so callers need not render it a second time. `partials` carries the
    partials read and analysed already by the checks of other prompts in the same validation pass; `included`
    receives every include name the checks looked up, found or not (what the answer depends on)."""
    scope = scope or files.read_scope(prompts_root, project_root)
    env = environment(scope, project_root)
    runtime = set(spec.runtime_names())
    known = runtime | set(spec.constants) | set(env.globals)
    checker = TemplateChecker(
        env,
        runtime,
        known,
        project_root,
        {} if partials is None else partials,
        included=set() if included is None else included,
    )
    diags: list[Diagnostic] = []
    try:
        with deadline(CHECK_SECONDS):
            for tpl in _templates(spec):
                diags.extend(checker.check(tpl))
    except RenderTimeout:
        line, col = spec.position("prompt" if spec.type == "text" else "messages")
        message = f"the templates and their includes take longer than {CHECK_SECONDS:g} s to check: simplify them"
        return [*diags, Diagnostic(spec.path, line, col, "jinja-too-complex", "error", message)], None
    for var in spec.variables:
        if var.name not in checker.used:
            line, col = spec.position(f"variables.{var.name}")
            diags.append(
                Diagnostic(
                    spec.path,
                    line,
                    col,
                    "unused-variable",
                    "warning",
                    f"runtime variable {var.name!r} is declared but never used: remove it or use {{{{ {var.name} }}}}",
                )
            )
    if any(d.severity == "error" for d in diags):
        return diags, None
    problems, rendered = _check_render(spec, prompts_root, project_root, scope, checker.generated)
    return diags + problems, rendered


def _check_render(
    spec: PromptSpec, prompts_root: Path, project_root: Path, scope: ReadScope, generated: Mapping[str, str]
) -> tuple[list[Diagnostic], RenderedPrompt | None]:
    try:
        rendered = render(spec, prompts_root, project_root, scope=scope, generated=generated)
    except RenderError as exc:
        line, col = spec.position("prompt" if spec.type == "text" else "messages")
        reason = str(exc).removeprefix(f"{spec.path}: ")
        return [Diagnostic(spec.path, line, col, "render-error", "error", reason)], None
    texts = [rendered.prompt] if isinstance(rendered.prompt, str) else [m.get("content", "") for m in rendered.prompt]
    runtime = set(spec.runtime_names())
    for text in texts:
        for match in LANGFUSE_VARIABLE.finditer(text):
            if match.group(1).strip() not in runtime or match.group(1) != match.group(1).strip():
                line, col = spec.position("prompt" if spec.type == "text" else "messages")
                message = (
                    f"the rendered text contains {match.group(0)!r}, which Langfuse would treat as a variable at "
                    "run time: remove the braces or declare the variable"
                )
                return [Diagnostic(spec.path, line, col, "literal-braces", "error", message)], None
    return [], rendered


def render(
    spec: PromptSpec,
    prompts_root: Path,
    project_root: Path,
    values: Mapping[str, Any] | None = None,
    *,
    scope: ReadScope | None = None,
    generated: Mapping[str, str] | None = None,
) -> RenderedPrompt:
    """Render a prompt: runtime variables as `{{name}}` placeholders, or with `values` a full Jinja render.

    `generated` maps template sources to the Python their checks generated (TemplateChecker.generated), so a
    template validation checked is not parsed and generated again to render it."""
    env = environment(scope or files.read_scope(prompts_root, project_root), project_root)
    context = dict(spec.constants)
    for var in spec.variables:
        context[var.name] = placeholder(var.name) if values is None else values.get(var.name, "")

    def one(template: str) -> str:
        source = _source(template)
        return _render_one(env, source, (generated or {}).get(source), context, spec)

    if spec.type == "text":
        prompt: str | tuple[Mapping[str, str], ...] = one(spec.template or "")
    else:
        prompt = tuple(
            {"type": "placeholder", "name": m.placeholder}
            if m.placeholder is not None
            else {"role": m.role or "", "content": one(m.content or "")}
            for m in spec.messages
        )
    return RenderedPrompt(
        name=spec.name,
        type=spec.type,
        prompt=prompt,
        config=dict(spec.config),
        tags=spec.tags,
        labels=spec.labels,
        content_hash=content_hash(spec.type, prompt, spec.config),
        source_path=spec.path,
    )


def _render_one(
    env: SandboxedEnvironment, source: str, python: str | None, context: Mapping[str, Any], spec: PromptSpec
) -> str:
    try:
        with bounded():
            if python is None:
                template = env.from_string(source)
            else:  # what env.from_string(source) makes, from the Python its checks generated already
                code = compile(python, "<template>", "exec")
                template = env.template_class.from_code(env, code, env.make_globals(None), None)
            text = template.render(context)
    except SecurityError as exc:
        raise RenderError(f"{spec.path}: unsafe template refused by the sandbox: {exc}") from None
    except UndefinedError as exc:
        raise RenderError(f"{spec.path}: {exc.message}") from None
    except Exception as exc:  # Jinja and the template's own operations on untrusted input: never an internal error
        # e.g. SyntaxError: Python refuses to compile very deeply nested templates (too many nested blocks).
        reason = describe(exc) if isinstance(exc, MemoryError | SyntaxError) or not str(exc) else one_line(exc)
        raise RenderError(f"{spec.path}: template failed to render: {reason}") from None
    if len(text) > MAX_RENDERED_CHARS:
        raise RenderError(f"{spec.path}: rendered text is longer than {MAX_RENDERED_CHARS:,} characters")
    return text


def content_hash(
    prompt_type: str, prompt: str | tuple[Mapping[str, str], ...] | list[Any], config: Mapping[str, Any]
) -> str:
    """Return the hash of what is stored for a version: its type, rendered prompt and config."""
    body = prompt if isinstance(prompt, str) else [dict(m) for m in prompt]
    canonical = json.dumps(
        {"type": prompt_type, "prompt": body, "config": dict(config)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
