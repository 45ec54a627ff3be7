"""One function per verb. Each takes settings and arguments and returns values; none of them prints."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptops.errors import PromptNotFound, ValidationFailed
from promptops.model import DatasetSpec, Diagnostic, Project, ProjectConfig, RenderedPrompt
from promptops.plan import PromptPlan
from promptops.registry.base import DatasetSyncResult, PromptState, PromptVersion, Registry
from promptops.report import PromptCheck

if TYPE_CHECKING:
    from promptops.experiments import Progress
    from promptops.promote import PromptSyncResult
    from promptops.release import Release, RollbackPlan
    from promptops.results import ExperimentResult


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


@contextmanager
def opened_registry(settings: Settings, registry: Registry | None = None) -> Iterator[Registry]:
    """Yield the given registry, or open the settings' one and close it afterwards."""
    if registry is not None:
        yield registry
        return
    opened = registry_for(settings)
    try:
        yield opened
    finally:
        opened.close()


def registry_for(settings: Settings) -> Registry:
    """Open the registry chosen by --registry, the config, or auto-detection."""
    from promptops.registry import open_registry, resolve_name

    name = resolve_name(settings.registry, settings.config.registry)
    return open_registry(name, settings.root, settings.config)


def _rendered(project: Project, names: Sequence[str]) -> list[RenderedPrompt]:
    from promptops import render as rendering

    specs = list(project.prompts)
    if names:
        unknown = sorted(set(names) - {p.name for p in specs})
        if unknown:
            known = ", ".join(p.name for p in specs) or "none"
            raise PromptNotFound(f"no prompt named {', '.join(map(repr, unknown))} in the project (prompts: {known})")
        specs = [p for p in specs if p.name in names]
    return [rendering.rendered_in(project, spec) for spec in specs]


@dataclass(frozen=True)
class PromptDiff:
    """One prompt's plan, with the text and config diff against the registry's newest version."""

    plan: PromptPlan
    text_diff: str = ""
    config_diff: str = ""


@dataclass(frozen=True)
class DiffResult:
    """The outcome of `diff`: a plan per prompt and which registry it was computed against."""

    registry: str
    prompts: tuple[PromptDiff, ...]

    @property
    def pending(self) -> bool:
        """Return whether sync would change anything."""
        return any(p.plan.pending for p in self.prompts)


def diff(
    settings: Settings, names: Sequence[str] = (), *, registry: Registry | None = None, with_text: bool = True
) -> DiffResult:
    """Compare git with the registry: what sync would do for each prompt, with text and config diffs."""
    from promptops.plan import plan

    project = valid_project(settings)
    rendered = _rendered(project, names)
    with opened_registry(settings, registry) as reg:
        plans = plan(rendered, reg.list_prompts())
        if names:
            plans = [p for p in plans if p.name in names]
        diffs = _with_diffs(reg, plans) if with_text else [PromptDiff(p) for p in plans]
        return DiffResult(reg.describe(), tuple(diffs))


def _with_diffs(registry: Registry, plans: Sequence[PromptPlan]) -> list[PromptDiff]:
    """Fetch the newest version of changed prompts only (a few concurrent requests) and diff them."""
    from concurrent.futures import ThreadPoolExecutor

    from promptops.registry.base import user_config
    from promptops.textdiff import config_text, prompt_as_text, unified

    changed = [p for p in plans if p.status in ("changed", "changed-outside-git") and p.state and p.rendered]

    def one(p: PromptPlan) -> PromptDiff:
        assert p.state is not None and p.rendered is not None
        old = registry.get_version(p.name, version=p.state.latest_version)
        label_old, label_new = f"{p.name} v{old.version} (registry)", f"{p.name} (git)"
        return PromptDiff(
            p,
            unified(prompt_as_text(old.prompt), prompt_as_text(p.rendered.prompt), label_old, label_new),
            unified(config_text(user_config(old.config)), config_text(p.rendered.config), label_old, label_new),
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        fetched = dict(zip([p.name for p in changed], pool.map(one, changed), strict=True))
    return [fetched.get(p.name, PromptDiff(p)) for p in plans]


@dataclass(frozen=True)
class PushResult:
    """Versions created by `push`, and datasets synced."""

    registry: str
    created: tuple[PromptVersion, ...]
    datasets: tuple[DatasetSyncResult, ...]
    plans: tuple[PromptPlan, ...]


def push(settings: Settings, names: Sequence[str] = (), *, registry: Registry | None = None) -> PushResult:
    """Create registry versions for prompts that changed in git, without moving production; push datasets."""
    from promptops import publish
    from promptops.plan import plan

    project = valid_project(settings)
    rendered = _rendered(project, names)
    with opened_registry(settings, registry) as reg:
        plans = [p for p in plan(rendered, reg.list_prompts()) if not names or p.name in names]
        datasets = tuple(reg.sync_dataset(d) for d in _datasets_used(project, plans))
        created = tuple(publish.create_version(reg, p, settings.root) for p in plans if publish.needs_version(p))
        return PushResult(reg.describe(), created, datasets, tuple(plans))


def _datasets_used(project: Project, plans: Sequence[PromptPlan]) -> list[DatasetSpec]:
    wanted = {
        spec.experiment.dataset
        for p in plans
        if (spec := project.prompt(p.name)) is not None and spec.experiment is not None
    }
    return [d for d in project.datasets if d.name in wanted]


@dataclass(frozen=True)
class SyncResult:
    """The outcome of `sync`."""

    registry: str
    prompts: tuple[PromptSyncResult, ...]
    datasets: tuple[DatasetSyncResult, ...]
    dry_run: bool

    @property
    def failed(self) -> bool:
        """Return whether any gate failed or a promotion conflicted."""
        return any(p.failed for p in self.prompts)


def sync(
    settings: Settings,
    names: Sequence[str] = (),
    *,
    dry_run: bool = False,
    registry: Registry | None = None,
    progress: Progress | None = None,
) -> SyncResult:
    """Converge the registry to git: create versions, judge them against production, promote the winners."""
    from promptops import promote
    from promptops.experiments import recorded, runner_for, tracer_for
    from promptops.gitinfo import head_commit
    from promptops.plan import plan

    project = valid_project(settings)
    rendered = _rendered(project, names)
    with opened_registry(settings, registry) as reg:
        plans = [p for p in plan(rendered, reg.list_prompts()) if not names or p.name in names]
        if dry_run:
            results = tuple(
                promote.PromptSyncResult(p.name, p.status, promote.SKIPPED_OUTCOMES.get(p.status, "would " + p.action))
                for p in plans
            )
            return SyncResult(reg.describe(), results, (), True)
        datasets = tuple(reg.sync_dataset(d) for d in _datasets_used(project, plans))
        with recorded(tracer_for(settings.root, settings.config, reg)) as tracer:
            run = runner_for(tracer, progress, git_commit=head_commit(settings.root))
            results = tuple(promote.sync_prompt(settings.root, project, reg, p, run) for p in plans)
        return SyncResult(reg.describe(), results, datasets, False)


@dataclass(frozen=True)
class RollbackResult:
    """Where production was, where it went, and the file restored from git (if asked)."""

    registry: str
    plan: RollbackPlan
    applied: bool
    restored_file: str | None = None


def rollback(
    settings: Settings,
    name: str,
    *,
    to_version: int | None = None,
    dry_run: bool = False,
    restore_file: bool = False,
    registry: Registry | None = None,
) -> RollbackResult:
    """Move production back to the previous release (or `to_version`), now; optionally restore the git file."""
    from promptops.registry.base import PRODUCTION
    from promptops.release import plan_rollback

    with opened_registry(settings, registry) as reg:
        labelled = reg.labelled_versions(name)
        if to_version is not None:
            reg.get_version(name, version=to_version)  # raises PromptNotFound for a version that does not exist
        planned = plan_rollback(name, labelled, to_version)
        if dry_run:
            return RollbackResult(reg.describe(), planned, False)
        reg.set_labels(name, planned.to_version, [PRODUCTION])
        restored = _restore_file(settings, reg, name, planned.to_version) if restore_file else None
        return RollbackResult(reg.describe(), planned, True, restored)


def _restore_file(settings: Settings, reg: Registry, name: str, version: int) -> str:
    """Write the prompt file back to its content at the git commit recorded on `version`."""
    from promptops import gitinfo
    from promptops.errors import PromptopsError

    prov = reg.get_version(name, version=version).provenance
    if prov is None or not prov.git_commit or not prov.source_path:
        raise PromptopsError(f"{name} version {version} records no git commit, so its file cannot be restored")
    path = settings.root / prov.source_path
    text = gitinfo.file_at(settings.root, prov.git_commit, path)
    if text is None:
        raise PromptopsError(f"{prov.source_path} did not exist at commit {prov.git_commit[:12]}")
    path.write_text(text, "utf-8")
    return prov.source_path


@dataclass(frozen=True)
class HistoryResult:
    """A prompt's releases, newest first."""

    registry: str
    name: str
    releases: tuple[Release, ...]


def history(settings: Settings, name: str, *, registry: Registry | None = None) -> HistoryResult:
    """List a prompt's releases with version, date, git commit and commit message."""
    from promptops.release import releases

    with opened_registry(settings, registry) as reg:
        return HistoryResult(reg.describe(), name, tuple(releases(reg.labelled_versions(name))))


@dataclass(frozen=True)
class ExperimentOutcome:
    """An experiment run and the registry it was recorded in."""

    registry: str
    result: ExperimentResult


def experiment(
    settings: Settings,
    name: str,
    *,
    version: int | None = None,
    label: str | None = None,
    progress: Progress | None = None,
    registry: Registry | None = None,
) -> ExperimentOutcome:
    """Run a prompt's experiment on the working tree, or on a registry version (by number or label)."""
    from promptops import promote
    from promptops import render as rendering
    from promptops.errors import ExperimentError
    from promptops.experiments import recorded, runner_for, tracer_for
    from promptops.gitinfo import head_commit
    from promptops.runner import Subject

    project = valid_project(settings)
    spec = project.prompt(name)
    if spec is None:
        _rendered(project, [name])  # raises PromptNotFound listing the known prompts
        raise AssertionError("unreachable")
    if spec.experiment is None:
        raise ExperimentError(f"{name} has no experiment ({spec.no_experiment_reason or 'none configured'})")
    dataset = project.dataset(spec.experiment.dataset)
    assert dataset is not None  # validation guarantees it
    with opened_registry(settings, registry) as reg:
        if version is not None or label is not None:
            stored = reg.get_version(name, version=version, label=label)
            subject = Subject(
                promote.rendered_from_version(stored, spec.path),
                stored.version,
                f"version {stored.version}" + (f" ({label})" if label else ""),
            )
        else:
            subject = Subject(rendering.render(spec, project.prompts_root, project.root), None, "working tree")
        reg.sync_dataset(dataset)
        with recorded(tracer_for(settings.root, settings.config, reg)) as tracer:
            result = runner_for(tracer, progress, git_commit=head_commit(settings.root))(subject, dataset, spec)
        return ExperimentOutcome(reg.describe(), result)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of `check`: validation problems, and a verdict per prompt the branch changes."""

    base: str
    registry: str
    diagnostics: tuple[Diagnostic, ...]
    prompts: tuple[PromptCheck, ...]

    @property
    def passed(self) -> bool:
        """Return whether the PR gate passes."""
        return not any(d.severity == "error" for d in self.diagnostics) and all(p.passed for p in self.prompts)


def check(
    settings: Settings, *, base: str | None = None, record: bool = False, progress: Progress | None = None
) -> CheckResult:
    """The read-only PR gate: validate, then judge each prompt the branch changes against its baseline."""
    from dataclasses import replace

    from promptops import gitinfo
    from promptops.experiments import recorded, runner_for, tracer_for
    from promptops.gitinfo import head_commit
    from promptops.pr_check import check_prompts
    from promptops.tracing.base import NullTracer
    from promptops.validate import validate_and_render

    loaded = load(settings)
    found, rendered = validate_and_render(loaded)
    diagnostics, project = tuple(found), replace(loaded, rendered=rendered)
    base_ref = base or gitinfo.default_base(settings.root)
    base_commit = gitinfo.merge_base(settings.root, base_ref)
    label = f"{base_ref} ({base_commit[:12]})"
    if any(d.severity == "error" for d in diagnostics):
        return CheckResult(label, "not reached", diagnostics, ())
    reg, states, why_not = _readable_registry(settings)
    try:
        with recorded(tracer_for(settings.root, settings.config, reg) if record and reg else NullTracer()) as tracer:
            run = runner_for(tracer, progress, git_commit=head_commit(settings.root))
            prompts = check_prompts(project, base_commit, reg, states, run)
        source = reg.describe() if reg else f"the base ref {base_ref} ({why_not})"
        return CheckResult(label, source, diagnostics, tuple(prompts))
    finally:
        if reg is not None:
            reg.close()


def _readable_registry(settings: Settings) -> tuple[Registry | None, dict[str, PromptState], str]:
    """Return the registry and its prompt states when it can be read without writing; else why not.

    A fork PR has no credentials and no database; an unreachable Langfuse must not block a PR either: the
    baseline then comes from the base ref, and the report says why.
    """
    from promptops.errors import RegistryError
    from promptops.registry import resolve_name

    name = resolve_name(settings.registry, settings.config.registry)
    if name == "local" and not (settings.root / settings.config.registry_path).is_file():
        return None, {}, "no registry: no credentials and no local registry file"  # opening would create it
    reg = registry_for(settings)
    try:
        return reg, {s.name: s for s in reg.list_prompts()}, ""
    except RegistryError as exc:
        reg.close()
        return None, {}, f"registry unreachable: {exc}"
