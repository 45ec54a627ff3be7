"""push, sync, rollback and history: the verbs that write to the registry, and its release history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from promptops.api.settings import Settings, opened_registry
from promptops.api.validating import rendered_prompts, valid_project
from promptops.model import DatasetSpec, Project
from promptops.plan import PromptPlan
from promptops.registry.base import DatasetSyncResult, PromptVersion, Registry

if TYPE_CHECKING:
    from promptops.experiments import Progress
    from promptops.promote import PromptSyncResult
    from promptops.release import Release, RollbackPlan


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
    rendered = rendered_prompts(project, names)
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
    rendered = rendered_prompts(project, names)
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
