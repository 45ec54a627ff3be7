"""validate and render: the verbs that read the repository only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptops.api.settings import Settings, load
from promptops.errors import PromptNotFound, ValidationFailed
from promptops.model import Diagnostic, Project, RenderedPrompt


@dataclass(frozen=True)
class ValidationResult:
    """The outcome of `validate`: every diagnostic and what was looked at."""

    diagnostics: tuple[Diagnostic, ...]
    prompts: int
    datasets: int

    @property
    def errors(self) -> int:
        """Return the number of error diagnostics."""
        return sum(d.severity == "error" for d in self.diagnostics)

    @property
    def warnings(self) -> int:
        """Return the number of warning diagnostics."""
        return sum(d.severity == "warning" for d in self.diagnostics)


def validate(settings: Settings, paths: Sequence[str] = ()) -> ValidationResult:
    """Validate the whole project; with `paths`, report only problems in those files or folders."""
    from promptops.validate import validate_project

    project = load(settings)
    diagnostics = validate_project(project)
    if paths:
        wanted = [_project_relative(settings.root, p) for p in paths]
        diagnostics = [
            d for d in diagnostics if any(d.path == w or d.path.startswith(w.rstrip("/") + "/") for w in wanted)
        ]
        # A mistyped path must not pass as "ok": nothing was checked for it.
        missing = [
            Diagnostic(w, None, None, "no-such-file", "error", "no such file or folder: nothing was validated here")
            for p, w in zip(paths, wanted, strict=True)
            if not Path(p).exists() and not (settings.root / w).exists()
        ]
        diagnostics = sorted([*diagnostics, *missing], key=lambda d: (d.path, d.line or 0, d.col or 0, d.code))
    return ValidationResult(tuple(diagnostics), len(project.prompts), len(project.datasets))


def _project_relative(root: Path, given: str) -> str:
    path = Path(given)
    absolute = path if path.is_absolute() else Path.cwd() / path
    try:
        return absolute.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def valid_project(settings: Settings) -> Project:
    """Load the project and raise ValidationFailed unless it validates; the result carries the rendered prompts."""
    from dataclasses import replace

    from promptops.validate import validate_and_render

    project = load(settings)
    diagnostics, rendered = validate_and_render(project)
    errors = [d for d in diagnostics if d.severity == "error"]
    if errors:
        shown = "\n".join(f"  {d.location()}: {d.message}" for d in errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise ValidationFailed(f"the prompts do not validate (run `promptops validate`):\n{shown}{more}")
    return replace(project, rendered=rendered)


@dataclass(frozen=True)
class RenderResult:
    """A rendered prompt, and with values, what the langfuse SDK's compile() makes of it."""

    rendered: RenderedPrompt
    compiled: str | list[dict[str, Any]] | None


def render(settings: Settings, name: str, values: Mapping[str, Any] | None = None) -> RenderResult:
    """Render one prompt as it will be stored; with `values`, also compile it as the app would."""
    from promptops import render as rendering
    from promptops.compile import compile_with_sdk

    project = valid_project(settings)
    spec = project.prompt(name)
    if spec is None:
        known = ", ".join(p.name for p in project.prompts) or "none"
        raise PromptNotFound(f"no prompt named {name!r} in {settings.config.prompts_dir}/ (prompts: {known})")
    rendered = rendering.render(spec, project.prompts_root, project.root)
    compiled = compile_with_sdk(rendered, values) if values else None
    return RenderResult(rendered, compiled)


def rendered_prompts(project: Project, names: Sequence[str]) -> list[RenderedPrompt]:
    """Return the rendered prompts of `names` (all when empty); an unknown name lists the known ones."""
    from promptops import render as rendering

    specs = list(project.prompts)
    if names:
        unknown = sorted(set(names) - {p.name for p in specs})
        if unknown:
            known = ", ".join(p.name for p in specs) or "none"
            raise PromptNotFound(f"no prompt named {', '.join(map(repr, unknown))} in the project (prompts: {known})")
        specs = [p for p in specs if p.name in names]
    return [rendering.rendered_in(project, spec) for spec in specs]
