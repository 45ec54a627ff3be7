"""The static checks of a prompt's templates, and of the partials they include, before anything renders.

What they catch: syntax errors (and anything else Jinja's compiler raises), undeclared variables, runtime
variables used where Jinja needs their value, private and dunder attributes, extends/import, and includes that
are dynamic, missing, outside the prompts folder or cyclic. Each partial is checked once per prompt, however
often it is included (ten partials each including the next six times would otherwise be 6^10 walks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import TemplateNotFound, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from promptops import files
from promptops.model import Diagnostic
from promptops.sandbox import RenderTimeout
from promptops.usercode import describe

MAX_INCLUDE_DEPTH = 10


@dataclass(frozen=True)
class Template:
    source: str
    path: str  # file the source is in, relative to the project root
    first_line: int  # line of the file where the source starts


@dataclass
class TemplateChecker:
    """Walks a prompt's templates and the partials they include, collecting problems and the names used."""

    env: SandboxedEnvironment
    runtime: set[str]  # declared runtime variables
    known: set[str]  # every name a template may use
    project_root: Path
    used: set[str] = field(default_factory=set)
    checked: set[str] = field(default_factory=set)  # partials already walked for this prompt
    including: list[str] = field(default_factory=list)  # the chain of partials being walked now

    def check(self, tpl: Template, depth: int = 0) -> list[Diagnostic]:
        """Return the problems of one template and, recursively, of its includes."""

        def diag(lineno: int | None, code: str, message: str) -> Diagnostic:
            line = tpl.first_line + (lineno or 1) - 1
            return Diagnostic(tpl.path, line, None, code, "error", message)

        try:
            ast = self.env.parse(tpl.source)
            # Compiles the template too: unknown filters and tests (TemplateAssertionError) surface here.
            undeclared = meta.find_undeclared_variables(ast)
        except RenderTimeout:
            raise  # the time limit of the whole check, not this template's problem
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
        if name in self.including:  # a cycle: say so now; walking it to the depth limit multiplies with fan-out
            chain = " → ".join([*self.including[self.including.index(name) :], name])
            return [diag(node.lineno, "include-cycle", f"includes form a cycle ({chain}): remove one of them")]
        if name in self.checked:
            return []  # its problems are reported once; walking it again could cost 6^10 walks
        try:
            source, filename, _ = self.env.loader.get_source(self.env, name)  # type: ignore[union-attr]
        except TemplateNotFound as exc:
            message = f"cannot include {exc.message}: paths are relative to the prompts folder"
            return [diag(node.lineno, "include-not-found", message)]
        included = Template(source, files.relative(Path(filename or name), self.project_root), 1)
        self.including.append(name)
        try:
            return self.check(included, depth + 1)
        finally:
            self.including.pop()
            self.checked.add(name)


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
