"""One function per verb. Each takes settings and arguments and returns values; none of them prints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptops.errors import PromptNotFound, ValidationFailed
from promptops.model import Diagnostic, Project, ProjectConfig, RenderedPrompt


@dataclass(frozen=True)
class Settings:
    """Where the project is and how to reach its registry, resolved once by the CLI."""

    root: Path
    config: ProjectConfig
    registry: str | None = None  # overrides config.registry

    @property
    def prompts_root(self) -> Path:
        """Return the absolute prompts folder."""
        return self.root / self.config.prompts_dir


def load_settings(start: Path, *, registry: str | None = None) -> Settings:
    """Find the project at or above `start` and read its configuration."""
    from promptops.config import find_root, load_config

    root = find_root(start)
    return Settings(root=root, config=load_config(root), registry=registry)


def load(settings: Settings) -> Project:
    """Load the project's prompts and datasets (problems are kept as diagnostics)."""
    from promptops.project import load_project

    return load_project(settings.root, settings.config)


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
    return ValidationResult(tuple(diagnostics), len(project.prompts), len(project.datasets))


def _project_relative(root: Path, given: str) -> str:
    path = Path(given)
    absolute = path if path.is_absolute() else Path.cwd() / path
    try:
        return absolute.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def valid_project(settings: Settings) -> Project:
    """Load the project and raise ValidationFailed unless it validates without errors."""
    from promptops.validate import validate_project

    project = load(settings)
    errors = [d for d in validate_project(project) if d.severity == "error"]
    if errors:
        shown = "\n".join(f"  {d.location()}: {d.message}" for d in errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise ValidationFailed(f"the prompts do not validate (run `promptops validate`):\n{shown}{more}")
    return project


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
