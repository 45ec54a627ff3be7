"""diff and status: git against the registry, prompt by prompt, anchored on production.

Cost on Langfuse: two listings (every version's labels, and production's config; the second is skipped when
every prompt has one version, or production is cached and did not move) tell most prompts' status;
a prompt whose content is not production's costs one fetch of the version holding it (when one does), a
production made outside git one fetch to hash it, and a text diff one fetch of production.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from promptops.api.settings import Settings, opened_registry
from promptops.api.validating import rendered_prompts, valid_project
from promptops.model import Project, RenderedPrompt
from promptops.plan import Lookup, PromptPlan
from promptops.registry.base import PromptState, Registry

FETCH_WORKERS = 8


@dataclass(frozen=True)
class PromptDiff:
    """One prompt's plan, with the text and config diff from production to git."""

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

    @property
    def blocking(self) -> bool:
        """Return whether any prompt's content was rejected (sync and diff fail until git changes it)."""
        return any(p.plan.blocking for p in self.prompts)


def fingerprints(project: Project) -> dict[str, str]:
    """Return every prompt's evaluation fingerprint."""
    from promptops.fingerprint import fingerprint

    return {
        spec.name: fingerprint(
            spec, project.dataset(spec.experiment.dataset) if spec.experiment else None, project.root
        )
        for spec in project.prompts
    }


def plans_for(project: Project, rendered: Sequence[RenderedPrompt], reg: Registry) -> list[PromptPlan]:
    """Plan `rendered` (and the registry's orphans) against the registry: listings, then the lookups needed."""
    from promptops.plan import plan

    states = reg.list_prompts()
    by_name = {s.name: s for s in states}
    wanted = [(r, by_name[r.name]) for r in rendered if r.name in by_name]
    with ThreadPoolExecutor(FETCH_WORKERS) as pool:
        looked = list(pool.map(lambda pair: lookup(reg, *pair), wanted))
    lookups = {r.name: found for (r, _), found in zip(wanted, looked, strict=True)}
    return plan(rendered, fingerprints(project), states, lookups)


def lookup(reg: Registry, rendered: RenderedPrompt, state: PromptState) -> Lookup:
    """Read what the listings leave open for one prompt: production's content, and the version with git's."""
    content = rendered.content_hash
    production_hash, ours, production = None, True, None
    if state.production_version is not None:
        prov = state.production_provenance
        if prov is not None:
            production_hash = prov.content_hash
        else:  # made outside promptops: its content has to be read to be compared
            production = reg.get_version(rendered.name, version=state.production_version)
            production_hash, ours = production.content_hash(), False
    if production_hash == content:
        return Lookup(production_hash, ours, production)
    match = None
    if state.decisions.stored(content):
        match = reg.find_content(rendered.name, content)
    elif state.latest_provenance is None and state.latest_version != state.production_version:
        newest = reg.get_version(rendered.name, version=state.latest_version)  # a UI edit may equal git: adopt it
        match = newest if newest.content_hash() == content else None
    return Lookup(production_hash, ours, match)


def diff(
    settings: Settings, names: Sequence[str] = (), *, registry: Registry | None = None, with_text: bool = True
) -> DiffResult:
    """Compare git with the registry: what sync would do for each prompt, with text and config diffs."""
    project = valid_project(settings)
    rendered = rendered_prompts(project, names)
    with opened_registry(settings, registry) as reg:
        plans = plans_for(project, rendered, reg)
        if names:
            plans = [p for p in plans if p.name in names]
        diffs = _with_diffs(reg, plans) if with_text else [PromptDiff(p) for p in plans]
        return DiffResult(reg.describe(), tuple(diffs))


def _with_diffs(registry: Registry, plans: Sequence[PromptPlan]) -> list[PromptDiff]:
    """Fetch production of the prompts whose git content is not production's (concurrently) and diff them."""
    from promptops.registry.base import user_config
    from promptops.textdiff import config_text, prompt_as_text, unified

    # Only where production holds something else than git: with no production there is nothing to compare with.
    quiet = ("in-sync", "experiment-changed", "orphan")
    shown = [p for p in plans if p.rendered and p.production_version is not None and p.status not in quiet]

    def one(p: PromptPlan) -> PromptDiff:
        assert p.rendered is not None and p.production_version is not None
        label_new = f"{p.name} (git)"
        assert p.state is not None
        old = registry.version_content(p.name, p.production_version, p.state.production_labels)
        label_old = f"{p.name} v{old.version} (production)"
        return PromptDiff(
            p,
            unified(prompt_as_text(old.prompt), prompt_as_text(p.rendered.prompt), label_old, label_new),
            unified(config_text(user_config(old.config)), config_text(p.rendered.config), label_old, label_new),
        )

    with ThreadPoolExecutor(FETCH_WORKERS) as pool:
        fetched = dict(zip([p.name for p in shown], pool.map(one, shown), strict=True))
    return [fetched.get(p.name, PromptDiff(p)) for p in plans]
