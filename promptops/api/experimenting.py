"""experiment: run one prompt's experiment on the working tree or a registry version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from promptops.api.settings import Settings, opened_registry
from promptops.api.validating import rendered_prompts, valid_project
from promptops.registry.base import Registry

if TYPE_CHECKING:
    from promptops.experiments import Progress
    from promptops.results import ExperimentResult


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
        rendered_prompts(project, [name])  # raises PromptNotFound listing the known prompts
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
