"""experiment: run one prompt's experiment on the working tree or a registry version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from promptops.api.settings import Settings, opened_registry
from promptops.api.validating import rendered_prompts, valid_project
from promptops.model import DatasetSpec, Project
from promptops.registry.base import Registry

if TYPE_CHECKING:
    from promptops.experiments import Progress
    from promptops.results import ExperimentResult
    from promptops.sharded import ShardOptions, ShardSummary


@dataclass(frozen=True)
class ExperimentOutcome:
    """An experiment run, the registry it was recorded in, and whether it used the registry's dataset."""

    registry: str
    result: ExperimentResult
    dataset_note: str = ""  # set when the run is not linked to the registry's dataset, saying why
    prompt_text: str = ""  # the prompt as it ran, for reports
    trace_urls: Mapping[str, str] = field(default_factory=dict)  # Langfuse links of traced items (trace_links=True)
    shards: ShardSummary | None = None  # a shard's results file, or the shards joined (--shard, --from)


def experiment(
    settings: Settings,
    name: str,
    *,
    version: int | None = None,
    label: str | None = None,
    progress: Progress | None = None,
    registry: Registry | None = None,
    trace_links: bool = False,
    responses: str | None = None,
    shards: ShardOptions | None = None,
) -> ExperimentOutcome:
    """Run a prompt's experiment on the working tree, or on a registry version (by number or label).

    `responses` (record, replay, auto, off) overrides the config's mode for recorded model responses. `shards`:
    run one shard of it into a results file (resuming from it), or take the result of joined shards.
    """
    from promptops import sharded
    from promptops.errors import ExperimentError
    from promptops.experiments import recorded, runner_for, session_for, tracer_for
    from promptops.gitinfo import head_commit
    from promptops.runner import Subject
    from promptops.textdiff import prompt_as_text
    from promptops.tracelinks import trace_urls

    project = valid_project(settings, only=name)  # an unrelated broken prompt does not block this one
    spec = project.prompt(name)
    if spec is None:
        rendered_prompts(project, [name])  # raises PromptNotFound listing the known prompts
        raise AssertionError("unreachable")
    if spec.experiment is None:
        raise ExperimentError(f"{name} has no experiment ({spec.no_experiment_reason or 'none configured'})")
    dataset = project.dataset(spec.experiment.dataset)
    assert dataset is not None  # validation guarantees it
    with opened_registry(settings, registry) as reg:
        if version is not None or label is not None:
            from promptops import promote

            stored = reg.get_version(name, version=version, label=label)
            subject = Subject(
                promote.rendered_from_version(stored, spec.path),
                stored.version,
                f"version {stored.version}" + (f" ({label})" if label else ""),
            )
        else:
            rendered = project.rendered_prompt(spec)
            same = reg.find_content(name, rendered.content_hash)  # the working tree may be a stored version
            where = f"working tree (= version {same.version})" if same else "working tree"
            subject = Subject(rendered, same.version if same else None, where)
        session = session_for(settings.root, settings.config, responses)
        # Before anything is written or run: BudgetExceeded when the estimate is above a budget.
        session.preflight(spec.name, spec.experiment, dataset, [subject.rendered.content_hash], spec.budget)
        note = _use_dataset(reg, project, dataset)
        commit = head_commit(settings.root)
        shard_session = sharded.session(shards, settings.root, "experiment", commit)
        with recorded(shard_session.tracer(tracer_for(settings.root, settings.config, reg))) as tracer, shard_session:
            hooks = shard_session.hooks
            run = runner_for(tracer, progress, git_commit=commit, linked=not note, session=session, hooks=hooks)
            result = run(subject, dataset, spec)
            urls = trace_urls(tracer, [result]) if trace_links else {}
        text = prompt_as_text(subject.rendered.prompt)
        return ExperimentOutcome(reg.describe(), result, note, text, urls, shard_session.summary())


def _use_dataset(reg: Registry, project: Project, dataset: DatasetSpec) -> str:
    """Make the registry's dataset the one the run links to, or say why the run is not linked to it.

    The local registry is this checkout's own: it gets the items. A shared one (Langfuse) is never written from
    here (sync and push upload datasets from committed files): the run links to it only when it holds exactly
    these items, and otherwise runs on the local items, unlinked.
    """
    if reg.name == "local":
        reg.sync_dataset(dataset)
        return ""
    planned = reg.sync_dataset(dataset, dry_run=True)
    if not (planned.created or planned.upserted or planned.archived):
        return ""
    from promptops import gitinfo

    dirty = dataset.path in {
        p.removeprefix(_repo_prefix(project)) for p in gitinfo.uncommitted(project.root, project.prompts_root)
    }
    why = "has uncommitted changes" if dirty else "differs from the registry's copy"
    return (
        f"{dataset.path} {why}: the run used the local items and is not linked to the dataset {dataset.name!r} in "
        f"the {reg.describe()}; `promptops sync` or `push` uploads it from committed files"
    )


def _repo_prefix(project: Project) -> str:
    """Return the project folder's path inside its git work tree, with a trailing slash ('' at the top)."""
    from promptops import gitinfo

    try:
        top = gitinfo.worktree_root(project.root).resolve()
    except gitinfo.GitError:
        return ""
    rel = project.root.resolve().relative_to(top).as_posix()
    return "" if rel == "." else rel + "/"
