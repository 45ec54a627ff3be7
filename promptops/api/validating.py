"""validate and render: the verbs that read the repository only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptops.api.settings import Settings, load
from promptops.errors import BadVariable, PromptNotFound, ValidationFailed
from promptops.model import Diagnostic, Project, PromptSpec, RenderedPrompt

if TYPE_CHECKING:
    from promptops.project_result import ProjectResult


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


def checked(
    settings: Settings, *, only: str | None = None, whole: ProjectResult | None = None, for_answer: bool = False
) -> tuple[Project, list[Diagnostic]]:
    """Load and validate the project (through the incremental cache unless --no-cache; with `only`, just that
    prompt and its files); the project carries the rendered prompts of the prompts that rendered cleanly.

    When no file under the prompts folder changed since the last command that loaded all of them, the project
    comes from that command (project_result.ProjectResult); `whole` is the one a caller made already.
    `for_answer`: the caller wants only the diagnostics (validate): the project is not kept for next time, and
    prompt files unchanged since the last validate are answered without loading them (Project.answered)."""
    from dataclasses import replace

    from promptops.project_result import ProjectResult
    from promptops.validate import validate_and_render
    from promptops.validation_cache import ValidationCache

    if whole is None and settings.cache and only is None:  # (a caller that passes `whole` has asked it already)
        whole = ProjectResult(settings.root, settings.config)
        known = whole.load_project()
        if known is not None:
            return known
    # validate itself (`for_answer`) keeps an answer per prompt file, so that it need not load unchanged ones.
    answering = for_answer and only is None and whole is not None and whole.usable()
    cache = ValidationCache(settings.root, settings.config, whole, answering=answering) if settings.cache else None
    project = load(settings, cache)
    diagnostics, rendered = validate_and_render(project, only, cache)
    project = replace(project, rendered=rendered)
    if cache is not None:
        cache.save(prune=only is None)
    if whole is not None and only is None:
        whole.save(project, diagnostics, with_project=not for_answer)
    return project, diagnostics


def validate(settings: Settings, paths: Sequence[str] = ()) -> ValidationResult:
    """Validate the whole project; with `paths`, report only problems in those files or folders.

    When no file under the prompts folder changed since the last validate, its answer is given again without
    loading anything (project_result.ProjectResult).
    """
    from promptops.project_result import ProjectResult

    whole = ProjectResult(settings.root, settings.config) if settings.cache else None
    known = whole.load() if whole is not None else None
    if known is not None:
        diagnostics, prompts, datasets = known
    else:
        project, diagnostics = checked(settings, whole=whole, for_answer=True)  # which keeps the answer
        prompts, datasets = project.prompt_count, len(project.datasets)
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
    return ValidationResult(tuple(diagnostics), prompts, datasets)


def _project_relative(root: Path, given: str) -> str:
    path = Path(given)
    absolute = path if path.is_absolute() else Path.cwd() / path
    try:
        return absolute.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def valid_project(settings: Settings, *, only: str | None = None) -> Project:
    """Load the project and raise ValidationFailed unless it validates (with `only`: unless that prompt and the
    files it uses validate); the result carries the rendered prompts."""
    project, diagnostics = checked(settings, only=only)
    errors = [d for d in diagnostics if d.severity == "error"]
    if errors:
        shown = "\n".join(f"  {d.location()}: {d.message}" for d in errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise ValidationFailed(f"the prompts do not validate (run `promptops validate`):\n{shown}{more}")
    return project


@dataclass(frozen=True)
class RenderResult:
    """A rendered prompt, and with values, what the langfuse SDK's compile() makes of it (and what to know)."""

    rendered: RenderedPrompt
    compiled: str | list[dict[str, Any]] | None
    warnings: tuple[str, ...] = ()


def render(settings: Settings, name: str, values: Mapping[str, str] | None = None) -> RenderResult:
    """Render one prompt as it will be stored; with `values`, also compile it as the app would.

    A value for a chat placeholder is JSON (a list of {role, content} messages); a value for a name the
    prompt does not declare raises BadVariable; a declared variable left out is a warning, since the
    official SDKs compile it differently.
    """
    from promptops.compile import compile_prompt

    project = valid_project(settings, only=name)
    spec = project.prompt(name)
    if spec is None:
        known = ", ".join(p.name for p in project.prompts) or "none"
        raise PromptNotFound(f"no prompt named {name!r} in {settings.config.prompts_dir}/ (prompts: {known})")
    rendered = project.rendered_prompt(spec)
    if not values:
        return RenderResult(rendered, None)
    filled, warnings = _compile_values(spec, values)
    return RenderResult(rendered, compile_prompt(rendered, filled), warnings)


def _messages(key: str, text: str) -> list[dict[str, Any]]:
    """Return a placeholder's value: a JSON list of {role, content} messages, or raise BadVariable."""
    import json

    try:
        messages = json.loads(text)
    except json.JSONDecodeError:
        messages = None
    if not isinstance(messages, list) or not all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in messages
    ):
        example = '[{"role": "user", "content": "Hi"}]'
        raise BadVariable(f"--var {key}: a placeholder takes a JSON list of messages, e.g. '{example}', not {text!r}")
    return messages


def _compile_values(spec: PromptSpec, values: Mapping[str, str]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Return the values compile() gets (placeholders parsed from JSON) and the warnings about what is missing."""
    variables = list(spec.runtime_names())
    placeholders = [m.placeholder for m in spec.messages if m.placeholder is not None]
    unknown = [key for key in values if key not in variables and key not in placeholders]
    if unknown:
        declared = ", ".join([*variables, *(f"{p} (placeholder)" for p in placeholders)]) or "none"
        raise BadVariable(
            f"prompt {spec.name!r} has no variable {', '.join(map(repr, unknown))} (it declares: {declared})"
        )
    filled: dict[str, Any] = dict(values)
    for key in placeholders:
        if key in values:
            filled[key] = _messages(key, values[key])
    warnings = [
        f"variable {key!r} was not given: the Python SDK keeps {{{{{key}}}}} in the text, the JS/TS SDK makes it ''"
        + ("" if required else " (it is optional: the app may leave it out)")
        for key, required in ((v.name, v.required) for v in spec.variables)
        if key not in values
    ]
    warnings += [
        f"placeholder {key!r} was not given: compile() keeps it as a placeholder message" for key in placeholders
        if key not in values
    ]  # fmt: skip
    return filled, tuple(warnings)


def rendered_prompts(project: Project, names: Sequence[str]) -> list[RenderedPrompt]:
    """Return the rendered prompts of `names` (all when empty); an unknown name lists the known ones."""
    specs = list(project.prompts)
    if names:
        unknown = sorted(set(names) - {p.name for p in specs})
        if unknown:
            known = ", ".join(p.name for p in specs) or "none"
            raise PromptNotFound(f"no prompt named {', '.join(map(repr, unknown))} in the project (prompts: {known})")
        specs = [p for p in specs if p.name in names]
    return [project.rendered_prompt(spec) for spec in specs]
