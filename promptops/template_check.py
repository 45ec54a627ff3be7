"""The static checks of a prompt's templates, and of the partials they include, before anything renders.

What they catch: syntax errors (and anything else Jinja's compiler raises), undeclared variables, runtime
variables used where Jinja needs their value, private and dunder attributes, extends/import, and includes that
are dynamic, missing, outside the prompts folder or cyclic. Each partial is checked once per prompt, however
often it is included (ten partials each including the next six times would otherwise be 6^10 walks).

Each template is parsed and turned into Python once: the code generation that finds its undeclared names is
the one its render compiles (`TemplateChecker.generated`), and a partial is read, parsed and generated once
per validation pass (`Partials`), however many prompts include it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import TemplateNotFound, TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

from promptops import files
from promptops.model import Diagnostic
from promptops.sandbox import RenderTimeout, generate
from promptops.usercode import describe

MAX_INCLUDE_DEPTH = 10


@dataclass(frozen=True)
class Template:
    source: str
    path: str  # file the source is in, relative to the project root
    first_line: int  # line of the file where the source starts


@dataclass(frozen=True)
class Analysis:
    """A template parsed and turned into Python (the code its render compiles), or why it could not be."""

    walked: tuple[tuple[nodes.Node, nodes.Node | None], ...]  # every node of the tree, with its parent
    undeclared: frozenset[str]  # the names it looks up in its context (jinja2.meta's undeclared variables)
    python: str
    problem: tuple[int | None, str] | None = None  # (line in the template, message): a jinja-syntax error


def analyse(env: SandboxedEnvironment, source: str) -> Analysis:
    """Parse `source` and generate its Python once; Jinja's errors (on untrusted input) become the problem."""
    try:
        ast = env.parse(source)
        # Code generation raises what compiling would (TemplateAssertionError: unknown filters and tests).
        python, undeclared = generate(env, ast)
    except RenderTimeout:
        raise  # the time limit of the whole check, not this template's problem
    except TemplateSyntaxError as exc:
        return _failed(exc.lineno, f"Jinja syntax error: {exc.message}")
    except (RecursionError, MemoryError):
        return _failed(1, "the template is nested too deeply to parse: flatten it")
    except Exception as exc:  # Jinja's compiler on untrusted input: whatever it raises is this file's problem
        return _failed(getattr(exc, "lineno", None), f"Jinja cannot compile this: {describe(exc)}")
    return Analysis(tuple(_walk(ast, None)), undeclared, python)


def _failed(lineno: int | None, message: str) -> Analysis:
    return Analysis((), frozenset(), "", (lineno, message))


Partials = dict[str, "tuple[Template, Analysis] | str"]  # include name -> the partial, or why it cannot be read


@dataclass
class TemplateChecker:
    """Walks a prompt's templates and the partials they include, collecting problems and the names used."""

    env: SandboxedEnvironment
    runtime: set[str]  # declared runtime variables
    known: set[str]  # every name a template may use
    project_root: Path
    partials: Partials = field(default_factory=dict)  # read and analysed already in this validation pass
    used: set[str] = field(default_factory=set)
    checked: set[str] = field(default_factory=set)  # partials already walked for this prompt
    including: list[str] = field(default_factory=list)  # the chain of partials being walked now
    generated: dict[str, str] = field(default_factory=dict)  # the prompt's own template sources -> their Python
    included: set[str] = field(default_factory=set)  # every include name looked up, found or not

    def check(self, tpl: Template, depth: int = 0, analysis: Analysis | None = None) -> list[Diagnostic]:
        """Return the problems of one template and, recursively, of its includes."""

        def diag(lineno: int | None, code: str, message: str) -> Diagnostic:
            line = tpl.first_line + (lineno or 1) - 1
            return Diagnostic(tpl.path, line, None, code, "error", message)

        if analysis is None:
            analysis = analyse(self.env, tpl.source)
            if analysis.problem is None:
                self.generated[tpl.source] = analysis.python
        if analysis.problem is not None:
            return [diag(analysis.problem[0], "jinja-syntax", analysis.problem[1])]
        undeclared = analysis.undeclared
        diags = []
        for node, parent in analysis.walked:
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
            line = next((n.lineno for n, _ in analysis.walked if isinstance(n, nodes.Name) and n.name == name), 1)
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
        self.included.add(name)
        if name in self.checked:
            return []  # its problems are reported once; walking it again could cost 6^10 walks
        partial = self._partial(name)
        if isinstance(partial, str):
            return [diag(node.lineno, "include-not-found", partial)]
        self.including.append(name)
        try:
            return self.check(partial[0], depth + 1, partial[1])
        finally:
            self.including.pop()
            self.checked.add(name)

    def _partial(self, name: str) -> tuple[Template, Analysis] | str:
        if name not in self.partials:
            try:
                source, filename, _ = self.env.loader.get_source(self.env, name)  # type: ignore[union-attr]
            except TemplateNotFound as exc:
                self.partials[name] = f"cannot include {exc.message}: paths are relative to the prompts folder"
            else:
                included = Template(source, files.relative(Path(filename or name), self.project_root), 1)
                self.partials[name] = (included, analyse(self.env, source))
        return self.partials[name]


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
