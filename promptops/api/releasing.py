"""push, sync, rollback and history: the verbs that write to the registry, and its release history."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from promptops.api.planning import plans_for
from promptops.api.settings import Settings, opened_registry
from promptops.api.validating import rendered_prompts, valid_project
from promptops.model import DatasetSpec, Project
from promptops.plan import PromptPlan
from promptops.registry.base import DatasetSyncResult, PromptVersion, Registry

if TYPE_CHECKING:
    from promptops.experiments import Progress
    from promptops.promote import PromptSyncResult
    from promptops.release import Release, RollbackPlan

T = TypeVar("T")


@dataclass(frozen=True)
class PushResult:
    """Versions created by `push`, and datasets synced."""

    registry: str
    created: tuple[PromptVersion, ...]
    datasets: tuple[DatasetSyncResult, ...]
    plans: tuple[PromptPlan, ...]


def push(
    settings: Settings, names: Sequence[str] = (), *, allow_dirty: bool = False, registry: Registry | None = None
) -> PushResult:
    """Create registry versions for prompts that changed in git, without moving production; push datasets."""
    from promptops import publish

    project = valid_project(settings)
    rendered = rendered_prompts(project, names)
    dirty = _dirty_files(project, "push", allow_dirty)
    with opened_registry(settings, registry) as reg:
        plans = [p for p in plans_for(project, rendered, reg) if not names or p.name in names]
        datasets = tuple(reg.sync_dataset(d) for d in _datasets_used(project, plans))
        created = tuple(
            publish.create_version(reg, p, settings.root, publish.origin_of(project, p.name, dirty))
            for p in plans
            if publish.needs_version(p)
        )
        return PushResult(reg.describe(), created, datasets, tuple(plans))


def _dirty_files(project: Project, verb: str, allow_dirty: bool) -> list[str]:
    """Refuse uncommitted prompt files, unless allowed: then return them, so their versions say so."""
    from promptops import gitinfo, publish

    if allow_dirty:
        return gitinfo.uncommitted(project.root, project.prompts_root)
    return publish.refuse_dirty(project, verb)


def _datasets_used(project: Project, plans: Sequence[PromptPlan]) -> list[DatasetSpec]:
    wanted = {
        spec.experiment.dataset
        for p in plans
        if (spec := project.prompt(p.name)) is not None and spec.experiment is not None
    }
    return [d for d in project.datasets if d.name in wanted]


@dataclass(frozen=True)
class SyncResult:
    """The outcome of `sync`, or with `dry_run` its plan (each prompt's outcome is then its plan status)."""

    registry: str
    prompts: tuple[PromptSyncResult, ...]
    datasets: tuple[DatasetSyncResult, ...]
    dry_run: bool
    trace_urls: Mapping[str, str] = field(default_factory=dict)  # Langfuse links of traced items (trace_links=True)

    @property
    def failed(self) -> bool:
        """Return whether any gate failed, a promotion conflicted, or git holds rejected content."""
        return any(p.failed for p in self.prompts)


def sync(
    settings: Settings,
    names: Sequence[str] = (),
    *,
    dry_run: bool = False,
    allow_dirty: bool = False,
    registry: Registry | None = None,
    progress: Progress | None = None,
    trace_links: bool = False,
    responses: str | None = None,
) -> SyncResult:
    """Converge the registry to git: create versions, judge them against production, promote the winners."""
    from promptops import promote, publish
    from promptops.experiments import recorded, runner_for, session_for, tracer_for
    from promptops.gitinfo import head_commit
    from promptops.tracelinks import runs_of, trace_urls

    project = valid_project(settings)
    rendered = rendered_prompts(project, names)
    dirty = [] if dry_run else _dirty_files(project, "sync", allow_dirty)
    with opened_registry(settings, registry) as reg:
        plans = [p for p in plans_for(project, rendered, reg) if not names or p.name in names]
        datasets = tuple(reg.sync_dataset(d, dry_run=dry_run) for d in _datasets_used(project, plans))
        if dry_run:
            planned = tuple(promote.planned_result(p) for p in plans)
            return SyncResult(reg.describe(), planned, datasets, True)
        with recorded(tracer_for(settings.root, settings.config, reg)) as tracer:
            session = session_for(settings.root, settings.config, responses)
            run = runner_for(tracer, progress, git_commit=head_commit(settings.root), session=session)
            results = tuple(
                promote.sync_prompt(project, reg, p, run, lambda name: publish.origin_of(project, name, dirty))
                for p in plans
            )
            urls = trace_urls(tracer, runs_of(r.runs for r in results)) if trace_links else {}
        return SyncResult(reg.describe(), results, datasets, False, urls)


@dataclass(frozen=True)
class RollbackResult:
    """Where production was, where it went, and the files restored from git (if asked)."""

    registry: str
    plan: RollbackPlan
    applied: bool
    restored: RestoreResult | None = None


def rollback(
    settings: Settings,
    name: str,
    *,
    to_version: int | None = None,
    allow_unreleased: bool = False,
    dry_run: bool = False,
    restore_file: bool = False,
    registry: Registry | None = None,
) -> RollbackResult:
    """Move production back to the previous release (or `to_version`), now; optionally restore the git file.

    The version production leaves is marked rolled back from (a `rolled-back-<content>` label), so a later sync
    holds that content instead of promoting it again, until git changes the prompt.
    """
    from promptops.registry.labels import PRODUCTION, rolled_back_label
    from promptops.release import plan_rollback

    with opened_registry(settings, registry) as reg:
        labelled = _known(reg, name, reg.labelled_versions)
        target = reg.get_version(name, version=to_version) if to_version is not None else None
        planned = plan_rollback(name, labelled, to_version, target=target, allow_unreleased=allow_unreleased)
        if dry_run:
            return RollbackResult(reg.describe(), planned, False)
        leaving = next((v for v in labelled if v.version == planned.from_version), None)
        if leaving is not None:  # first: a crash between the two writes leaves production where it was
            reg.set_labels(name, leaving.version, [rolled_back_label(leaving.content_hash())])
        reg.set_labels(name, planned.to_version, [PRODUCTION])
        restored = restore_files(settings, reg, name, planned.to_version) if restore_file else None
        return RollbackResult(reg.describe(), planned, True, restored)


@dataclass(frozen=True)
class RestoreResult:
    """The files written back from git for a version, and whether they now render to its content."""

    name: str
    version: int
    commit: str
    files: tuple[str, ...]
    matches: bool  # the prompt renders to the version's content again
    other_sources: tuple[str, ...] = ()  # when it does not: the other files it is made from (partials)


def restore(
    settings: Settings,
    name: str,
    *,
    version: int | None = None,
    label: str | None = None,
    registry: Registry | None = None,
) -> RestoreResult:
    """Write a prompt's files back to what they were at the git commit a version (default: production) records."""
    with opened_registry(settings, registry) as reg:
        stored = _known(reg, name, lambda n: reg.get_version(n, version=version, label=label))
        return restore_files(settings, reg, name, stored.version)


def restore_files(settings: Settings, reg: Registry, name: str, version: int) -> RestoreResult:
    """Write the prompt file (and its sibling template) back to the git commit recorded on `version`."""
    from promptops import gitinfo
    from promptops.errors import PromptopsError

    stored = reg.get_version(name, version=version)
    prov = stored.provenance
    if prov is None or not prov.git_commit or not prov.source_path:
        raise PromptopsError(f"{name} version {version} records no git commit, so its files cannot be restored")
    if prov.dirty:
        raise PromptopsError(
            f"{name} version {version} was made from uncommitted changes (sync --allow-dirty): no git commit holds "
            "its files, so they cannot be restored"
        )
    path = settings.root / prov.source_path
    text = gitinfo.file_at(settings.root, prov.git_commit, path)
    if text is None:
        raise PromptopsError(f"{prov.source_path} did not exist at commit {prov.git_commit[:12]}")
    written = [prov.source_path]
    path.write_text(text, "utf-8")
    sibling = path.with_suffix(".jinja")
    sibling_text = gitinfo.file_at(settings.root, prov.git_commit, sibling)
    if sibling_text is not None:
        sibling.write_text(sibling_text, "utf-8")
        written.append(Path(prov.source_path).with_suffix(".jinja").as_posix())
    matches, others = _renders_to(settings, name, stored.content_hash(), set(written))
    return RestoreResult(name, version, prov.git_commit, tuple(written), matches, others)


def _renders_to(settings: Settings, name: str, content: str, written: set[str]) -> tuple[bool, tuple[str, ...]]:
    """Tell whether the prompt now renders to `content`; if not, name the other files it is made from."""
    from promptops import render as rendering
    from promptops.api.settings import load
    from promptops.errors import PromptopsError
    from promptops.sources import source_files

    project = load(settings)
    spec = project.prompt(name)
    if spec is None:
        return False, ()
    try:
        matches = rendering.render(spec, project.prompts_root, project.root).content_hash == content
    except PromptopsError:
        matches = False
    if matches:
        return True, ()
    others = [p.relative_to(project.root).as_posix() for p in source_files(spec, project.root, project.prompts_root)]
    return False, tuple(p for p in others if p not in written)


def _known(reg: Registry, name: str, read: Callable[[str], T]) -> T:
    """Run `read(name)`; when the registry has no such prompt, say which names are close."""
    from difflib import get_close_matches

    from promptops.errors import PromptNotFound

    try:
        return read(name)
    except PromptNotFound as exc:
        names = [s.name for s in reg.list_prompts()]
        close = get_close_matches(name, names, n=3)
        if close:
            raise PromptNotFound(f"{exc} (did you mean {', '.join(close)}?)") from None
        if names and str(exc).startswith(f"prompt {name!r} is not"):
            shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
            raise PromptNotFound(f"{exc} (its prompts: {shown})") from None
        raise


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
        return HistoryResult(reg.describe(), name, tuple(releases(_known(reg, name, reg.labelled_versions))))
