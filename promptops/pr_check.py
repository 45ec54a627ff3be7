"""The PR gate's work: find what the branch changed, and judge each change as sync would after the merge.

A prompt is in the check when its rendered content or its evaluation fingerprint (dataset, evaluators, model,
seed, gate: promptops/fingerprint.py) differs from the base commit. With a readable registry the check follows
sync's plan for it: content production already holds passes, held content (production was rolled back from it)
is not evaluated, rejected content fails without running, and an experiment-only change runs production alone
on the new experiment, which must still meet its floors. Without one, the base ref's prompt is the baseline.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptops import gitinfo
from promptops import render as rendering
from promptops.budget import NotEvaluated
from promptops.custom_code import CustomCodeGuard
from promptops.errors import ConfigError, ExperimentError, PromptopsError
from promptops.experiments import RunFn
from promptops.model import Project, PromptSpec, RenderedPrompt
from promptops.plan import PromptPlan
from promptops.promote import baseline_version, evaluate, version_subject
from promptops.registry.base import PromptVersion, Registry
from promptops.report import PromptCheck
from promptops.results import Evaluation
from promptops.runner import Subject
from promptops.textdiff import prompt_as_text, unified

UNPLANNED = "sync creates a new version and promotes it if it beats production"


@dataclass(frozen=True)
class BasePrompt:
    """A prompt as it is at the base commit: rendered, with its evaluation fingerprint."""

    rendered: RenderedPrompt
    fingerprint: str


def base_prompts(root: Path, base_commit: str) -> dict[str, BasePrompt]:
    """Render the prompts as they are at the base commit (a base prompt that fails to load counts as absent)."""
    from promptops.api.planning import fingerprints
    from promptops.config import load_config
    from promptops.project import load_project

    with tempfile.TemporaryDirectory(prefix="promptops-base-") as tmp:
        base_root = Path(tmp)
        gitinfo.export_tree(root, base_commit, base_root)
        try:
            project = load_project(base_root, load_config(base_root))
        except PromptopsError:
            return {}  # no valid config at the base: every prompt is new
        prints = fingerprints(project)
        found = {}
        for spec in project.prompts:
            try:
                found[spec.name] = BasePrompt(
                    rendering.render(spec, project.prompts_root, project.root), prints[spec.name]
                )
            except PromptopsError:
                continue
        return found


def check_prompts(
    project: Project,
    base_commit: str,
    reg: Registry | None,
    plans: Mapping[str, PromptPlan],
    run: RunFn,
    guard: CustomCodeGuard | None = None,
) -> list[PromptCheck]:
    """Judge every prompt whose content or experiment differs from the base commit; list the ones removed."""
    from promptops.api.planning import fingerprints

    base = base_prompts(project.root, base_commit)
    prints = fingerprints(project)
    checks = []
    for spec in project.prompts:
        head = project.rendered_prompt(spec)
        old = base.get(spec.name)
        content_changed = old is None or old.rendered.content_hash != head.content_hash
        if not content_changed and old is not None and old.fingerprint == prints[spec.name]:
            continue
        status = "new" if old is None else ("changed" if content_changed else "experiment changed")
        checks.append(_check_one(project, spec, head, old, status, reg, plans.get(spec.name), run, guard))
    in_head = {spec.name for spec in project.prompts}
    for name, gone in sorted(base.items()):
        if name not in in_head:
            diff = unified(prompt_as_text(gone.rendered.prompt), "", f"{name} (base)", f"{name} (this branch)")
            planned = "sync leaves the registry's versions as an orphan; production keeps serving until deleted there"
            checks.append(PromptCheck(name, "removed", "-", diff, planned, None, "removed from git"))
    return checks


def _check_one(
    project: Project,
    spec: PromptSpec,
    head: RenderedPrompt,
    old: BasePrompt | None,
    status: str,
    reg: Registry | None,
    plan: PromptPlan | None,
    run: RunFn,
    guard: CustomCodeGuard | None = None,
) -> PromptCheck:
    production = baseline_version(reg, spec.name) if reg else None
    if production is not None:
        diff = unified(
            prompt_as_text(production.prompt),
            prompt_as_text(head.prompt),
            f"{spec.name} v{production.version} (production)",
            f"{spec.name} (this branch)",
        )
    else:
        before = prompt_as_text(old.rendered.prompt) if old else ""
        diff = unified(before, prompt_as_text(head.prompt), f"{spec.name} (base)", f"{spec.name} (this branch)")
    planned = plan.action if plan else UNPLANNED
    where: dict[str, Any] = {"path": spec.path, "line": spec.position("gate")[0] if "gate" in spec.positions else 1}
    if plan is not None and plan.status in ("in-sync", "held"):
        return PromptCheck(spec.name, status, "-", diff, planned, None, plan.status.replace("-", " "))
    if plan is not None and plan.status == "rejected":
        return PromptCheck(spec.name, status, "-", diff, planned, None, "rejected before", blocked=plan.action, **where)
    if spec.experiment is None:
        return PromptCheck(spec.name, status, "-", diff, planned, None, f"no experiment ({spec.no_experiment_reason})")
    dataset = project.dataset(spec.experiment.dataset)
    assert dataset is not None  # validation guarantees it
    baseline, source = _baseline(production, spec, old)
    refused = guard.refusal(spec) if guard is not None else None
    if refused is not None:  # the switch for teams that run no PR code next to CI's secrets
        return PromptCheck(spec.name, status, source, diff, planned, None, error=refused, **where)
    only_experiment = plan.status == "experiment-changed" if plan is not None else status == "experiment changed"
    try:
        if only_experiment:
            # Nothing to compare against: what serves (or would serve) must still meet its floors on the new experiment.
            subject = baseline if baseline is not None else Subject(head, None, "this branch")
            verdict, alone, _ = evaluate(spec, dataset, subject, None, run)
            runs = Evaluation.of(alone, None, subject, None)
            source = f"{source}, judged alone on the changed experiment"
            return PromptCheck(spec.name, status, source, diff, planned, verdict, runs=runs, **where)
        candidate = Subject(head, None, "this branch")
        verdict, cand_run, base_run = evaluate(spec, dataset, candidate, baseline, run)
    except NotEvaluated as exc:  # over budget, or the model cannot run here: the check says so and fails
        return PromptCheck(spec.name, status, source, diff, planned, None, exc.reason, evaluated=False, **where)
    except (ConfigError, ExperimentError) as exc:  # e.g. custom code that cannot be imported: the prompt fails
        return PromptCheck(spec.name, status, source, diff, planned, None, error=str(exc), **where)
    runs = Evaluation.of(cand_run, base_run, candidate, baseline)
    return PromptCheck(spec.name, status, source, diff, planned, verdict, runs=runs, **where)


def _baseline(production: PromptVersion | None, spec: PromptSpec, old: BasePrompt | None) -> tuple[Subject | None, str]:
    """Return the baseline: production from the registry when there is one, else the base ref's prompt."""
    if production is not None:
        subject = version_subject(production, spec.path, "production")
        return subject, f"production version {production.version} from the registry"
    if old is not None:
        return Subject(old.rendered, None, "base ref"), "the prompt as it is on the base ref"
    return None, "none: a new prompt is judged on its floors"
