"""diff and status: git against the registry, prompt by prompt."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from promptops.api.settings import Settings, opened_registry
from promptops.api.validating import rendered_prompts, valid_project
from promptops.plan import PromptPlan
from promptops.registry.base import Registry


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
    rendered = rendered_prompts(project, names)
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
