"""The PR gate's work: render the base ref's prompts, find what the branch changed, judge each change."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

from promptops import gitinfo
from promptops import render as rendering
from promptops.errors import PromptopsError
from promptops.experiments import RunFn
from promptops.model import Project, PromptSpec, RenderedPrompt
from promptops.promote import baseline_version, evaluate, version_subject
from promptops.registry.base import PromptState, Registry
from promptops.report import PromptCheck
from promptops.runner import Subject
from promptops.textdiff import prompt_as_text, unified


def base_prompts(root: Path, base_commit: str) -> dict[str, RenderedPrompt]:
    """Render the prompts as they are at the base commit (a base prompt that fails to load counts as absent)."""
    from promptops.config import load_config
    from promptops.project import load_project

    with tempfile.TemporaryDirectory(prefix="promptops-base-") as tmp:
        base_root = Path(tmp)
        gitinfo.export_tree(root, base_commit, base_root)
        try:
            project = load_project(base_root, load_config(base_root))
        except PromptopsError:
            return {}  # no valid config at the base: every prompt is new
        found = {}
        for spec in project.prompts:
            try:
                found[spec.name] = rendering.render(spec, project.prompts_root, project.root)
            except PromptopsError:
                continue
        return found


def check_prompts(
    project: Project, base_commit: str, reg: Registry | None, states: Mapping[str, PromptState], run: RunFn
) -> list[PromptCheck]:
    """Judge every prompt whose rendered content differs from the base commit; list the ones removed."""
    from promptops.plan import plan_prompt

    base = base_prompts(project.root, base_commit)
    checks = []
    for spec in project.prompts:
        head = rendering.rendered_in(project, spec)
        old = base.get(spec.name)
        if old is not None and old.content_hash == head.content_hash:
            continue
        diff = unified(
            prompt_as_text(old.prompt) if old else "",
            prompt_as_text(head.prompt),
            f"{spec.name} (base)",
            f"{spec.name} (this branch)",
        )
        planned = (
            plan_prompt(head, states.get(spec.name)).action
            if reg
            else "sync creates a new version and promotes it if it beats production"
        )
        status = "changed" if old else "new"
        if spec.experiment is None:
            note = f"no experiment ({spec.no_experiment_reason})"
            checks.append(PromptCheck(spec.name, status, "-", diff, planned, None, note))
            continue
        baseline, source = baseline_for(reg, spec, old)
        dataset = project.dataset(spec.experiment.dataset)
        assert dataset is not None  # validation guarantees it
        verdict, _, _ = evaluate(spec, dataset, Subject(head, None, "this branch"), baseline, run)
        checks.append(PromptCheck(spec.name, status, source, diff, planned, verdict))
    in_head = {spec.name for spec in project.prompts}
    for name, old in sorted(base.items()):
        if name not in in_head:
            diff = unified(prompt_as_text(old.prompt), "", f"{name} (base)", f"{name} (this branch)")
            planned = "sync leaves the registry's versions as an orphan; production keeps serving until deleted there"
            checks.append(PromptCheck(name, "removed", "-", diff, planned, None, "removed from git"))
    return checks


def baseline_for(reg: Registry | None, spec: PromptSpec, old: RenderedPrompt | None) -> tuple[Subject | None, str]:
    """Return the baseline: production from the registry when there is one, else the base ref's prompt."""
    production = baseline_version(reg, spec.name) if reg else None
    if production is not None:
        subject = version_subject(production, spec.path, "production")
        return subject, f"production version {production.version} from the registry"
    if old is not None:
        return Subject(old, None, "base ref"), "the prompt as it is on the base ref"
    return None, "none: a new prompt is judged on its floors"
