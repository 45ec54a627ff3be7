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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import BaseLoader, StrictUndefined, TemplateNotFound, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from promptops import files, printable
from promptops.errors import RenderError
from promptops.model import Diagnostic, Project, PromptSpec, ReadScope, RenderedPrompt
from promptops.sandbox import MAX_RENDERED_CHARS, BoundedSandbox, bounded
from promptops.usercode import describe, one_line

MAX_INCLUDE_DEPTH = 10
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


@dataclass(frozen=True)
class _Template:
    source: str
    path: str  # file the source is in, relative to the project root
    first_line: int  # line of the file where the source starts


def _templates(spec: PromptSpec) -> Iterator[tuple[str | None, _Template]]:
    if spec.type == "text":
        yield None, _Template(spec.template or "", spec.template_path, spec.template_line)
        return
    for message in spec.messages:
        if message.content is not None:
            yield message.role, _Template(message.content, spec.path, message.line or 1)


def check_prompt(
    spec: PromptSpec, prompts_root: Path, project_root: Path, *, scope: ReadScope | None = None
) -> tuple[list[Diagnostic], RenderedPrompt | None]:
    """Return a prompt's template problems (syntax, undeclared and misused variables, unsafe code) and, when it
    rendered cleanly, the rendered prompt, so callers need not render it a second time."""
    scope = scope or files.read_scope(prompts_root, project_root)
    env = environment(scope, project_root)
    runtime = set(spec.runtime_names())
    checker = _TemplateChecker(env, runtime, runtime | set(spec.constants) | set(env.globals), project_root)
    diags: list[Diagnostic] = []
    for _, tpl in _templates(spec):
        diags.extend(checker.check(tpl))
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
    problems, rendered = _check_render(spec, prompts_root, project_root, scope)
    return diags + problems, rendered


@dataclass
class _TemplateChecker:
    """Walks a prompt's templates and the partials they include, collecting problems and the names used."""

    env: SandboxedEnvironment
    runtime: set[str]  # declared runtime variables
    known: set[str]  # every name a template may use
    project_root: Path
    used: set[str] = field(default_factory=set)

    def check(self, tpl: _Template, depth: int = 0) -> list[Diagnostic]:
        """Return the problems of one template and, recursively, of its includes."""

        def diag(lineno: int | None, code: str, message: str) -> Diagnostic:
            line = tpl.first_line + (lineno or 1) - 1
            return Diagnostic(tpl.path, line, None, code, "error", message)

        try:
            ast = self.env.parse(tpl.source)
            # Compiles the template too: unknown filters and tests (TemplateAssertionError) surface here.
            undeclared = meta.find_undeclared_variables(ast)
        except TemplateSyntaxError as exc:
            return [diag(exc.lineno, "jinja-syntax", f"Jinja syntax error: {exc.message}")]
        except (RecursionError, MemoryError):
            return [diag(1, "jinja-syntax", "the template is nested too deeply to parse: flatten it")]
        except Exception as exc:  # Jinja's compiler on untrusted input: whatever it raises is this file's problem
            return [diag(getattr(exc, "lineno", None), "jinja-syntax", f"Jinja cannot compile this: {describe(exc)}")]
        diags = []
        for node, parent in _walk(ast, None):
            if isinstance(node, nodes.Name) and node.ctx == "load" and node.name in self.runtime:
                self.used.add(node.name)
                if not isinstance(parent, nodes.Output):
                    diags.append(diag(node.lineno, "runtime-variable-in-logic", _misuse_message(node.name, parent)))
            elif isinstance(node, nodes.Getattr | nodes.Getitem) and _dunder(node):
                diags.append(
                    diag(node.lineno, "unsafe-template", "templates may not access private or dunder attributes")
                )
            elif isinstance(node, nodes.Extends | nodes.Import | nodes.FromImport):
                diags.append(
                    diag(
                        node.lineno,
                        "unsupported-tag",
                        "use {% include %} of a partial; extends/import are not supported",
                    )
                )
            elif isinstance(node, nodes.Include):
                diags.extend(self._include(node, depth, diag))
        for name in sorted(undeclared - self.known):
            line = next((n.lineno for n, _ in _walk(ast, None) if isinstance(n, nodes.Name) and n.name == name), 1)
            diags.append(
                diag(
                    line,
                    "undeclared-variable",
                    f"{name!r} is not defined: declare it under `variables:` (runtime) or `constants:` (build time)",
                )
            )
        return diags

    def _include(
        self, node: nodes.Include, depth: int, diag: Callable[[int | None, str, str], Diagnostic]
    ) -> list[Diagnostic]:
        if not isinstance(node.template, nodes.Const) or not isinstance(node.template.value, str):
            return [
                diag(node.lineno, "include-dynamic", "include a fixed path, e.g. {% include '_partials/x.jinja' %}")
            ]
        if depth >= MAX_INCLUDE_DEPTH:
            return [
                diag(node.lineno, "include-depth", f"includes nest deeper than {MAX_INCLUDE_DEPTH} levels (a cycle?)")
            ]
        name = node.template.value
        try:
            source, filename, _ = self.env.loader.get_source(self.env, name)  # type: ignore[union-attr]
        except TemplateNotFound as exc:
            message = f"cannot include {exc.message}: paths are relative to the prompts folder"
            return [diag(node.lineno, "include-not-found", message)]
        included = _Template(source, files.relative(Path(filename or name), self.project_root), 1)
        return self.check(included, depth + 1)


def _walk(node: nodes.Node, parent: nodes.Node | None) -> Iterator[tuple[nodes.Node, nodes.Node | None]]:
    yield node, parent
    for child in node.iter_child_nodes():
        yield from _walk(child, node)


def _dunder(node: nodes.Getattr | nodes.Getitem) -> bool:
    attr = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
    return isinstance(attr, str) and attr.startswith("_")


def _misuse_message(name: str, parent: nodes.Node | None) -> str:
    where = {
        nodes.If: "an {% if %} condition",
        nodes.CondExpr: "an inline if",
        nodes.For: "a {% for %} loop",
        nodes.Filter: "a filter",
        nodes.Test: "a test",
        nodes.Call: "a call",
        nodes.Compare: "a comparison",
        nodes.Getattr: "an attribute access",
        nodes.Getitem: "an index",
        nodes.Assign: "a {% set %}",
    }
    kind = next((text for cls, text in where.items() if isinstance(parent, cls)), "an expression")
    return (
        f"runtime variable {name!r} is used in {kind}, but its value only exists at run time (Langfuse substitutes "
        f"{{{{{name}}}}} after the template is rendered): print it as {{{{ {name} }}}}, or make it a constant"
    )


def _check_render(
    spec: PromptSpec, prompts_root: Path, project_root: Path, scope: ReadScope
) -> tuple[list[Diagnostic], RenderedPrompt | None]:
    try:
        rendered = render(spec, prompts_root, project_root, scope=scope)
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


def rendered_in(project: Project, spec: PromptSpec) -> RenderedPrompt:
    """Return a prompt as validation already rendered it, rendering it only if validation did not."""
    return project.rendered.get(spec.name) or render(spec, project.prompts_root, project.root, scope=project.scope)


def render(
    spec: PromptSpec,
    prompts_root: Path,
    project_root: Path,
    values: Mapping[str, Any] | None = None,
    *,
    scope: ReadScope | None = None,
) -> RenderedPrompt:
    """Render a prompt: runtime variables as `{{name}}` placeholders, or with `values` a full Jinja render."""
    env = environment(scope or files.read_scope(prompts_root, project_root), project_root)
    context = dict(spec.constants)
    for var in spec.variables:
        context[var.name] = placeholder(var.name) if values is None else values.get(var.name, "")
    if spec.type == "text":
        prompt: str | tuple[Mapping[str, str], ...] = _render_one(env, spec.template or "", context, spec)
    else:
        prompt = tuple(
            {"type": "placeholder", "name": m.placeholder}
            if m.placeholder is not None
            else {"role": m.role or "", "content": _render_one(env, m.content or "", context, spec)}
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


def _render_one(env: SandboxedEnvironment, source: str, context: Mapping[str, Any], spec: PromptSpec) -> str:
    try:
        # YAML block scalars end with a newline that is not part of the prompt.
        with bounded():
            text = env.from_string(source.rstrip("\n")).render(context)
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
