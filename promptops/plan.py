"""Pure diff planning: git's rendered prompts against the registry's state, prompt by prompt. No I/O here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from promptops.model import RenderedPrompt
from promptops.registry.base import PromptState

Status = Literal[
    "new",  # in git, not in the registry
    "changed",  # git differs from the newest version
    "changed-outside-git",  # the newest version was not made by promptops (e.g. a UI edit)
    "pending",  # the newest version matches git but the gate has not decided it yet
    "unchanged",  # the newest version matches git and holds production
    "rejected",  # the newest version matches git and the gate rejected it; sync waits for a change in git
    "rolled-back",  # production is behind the newest version on purpose (rollback); sync leaves it
    "orphan",  # in the registry, gone from git
]

# Statuses for which `sync` would do something.
PENDING_STATUSES: tuple[Status, ...] = ("new", "changed", "changed-outside-git", "pending")


@dataclass(frozen=True)
class PromptPlan:
    """What sync would do for one prompt, and why."""

    name: str
    status: Status
    action: str
    rendered: RenderedPrompt | None  # what git has (None for orphans)
    state: PromptState | None  # what the registry has (None for new prompts)

    @property
    def pending(self) -> bool:
        """Return whether sync would change the registry for this prompt."""
        return self.status in PENDING_STATUSES


def plan_prompt(rendered: RenderedPrompt, state: PromptState | None) -> PromptPlan:
    """Classify one prompt from git against its registry state."""
    name = rendered.name
    if state is None:
        return PromptPlan(name, "new", "create version 1, then judge it on its floors", rendered, None)
    latest = state.latest_version
    if not state.latest_made_by_promptops:
        return PromptPlan(
            name,
            "changed-outside-git",
            f"version {latest} was not made by promptops: create version {latest + 1} from git and evaluate it",
            rendered,
            state,
        )
    production_prov = state.production_provenance
    if state.production_version is not None and state.production_version != latest and production_prov is not None:
        if production_prov.content_hash == rendered.content_hash:
            return PromptPlan(
                name,
                "rolled-back",
                f"git matches production (version {state.production_version}); newer version {latest} stays unreleased",
                rendered,
                state,
            )
    latest_prov = state.latest_provenance
    assert latest_prov is not None  # latest_made_by_promptops implies it
    if latest_prov.content_hash != rendered.content_hash:
        return PromptPlan(name, "changed", f"create version {latest + 1} and evaluate it", rendered, state)
    if state.production_version == latest:
        return PromptPlan(name, "unchanged", "nothing to do", rendered, state)
    if state.latest_rejected:
        return PromptPlan(
            name, "rejected", f"version {latest} was rejected by the gate; change the prompt in git", rendered, state
        )
    if state.latest_released:
        return PromptPlan(
            name,
            "rolled-back",
            f"version {latest} was released and rolled back; production stays on version {state.production_version}",
            rendered,
            state,
        )
    return PromptPlan(name, "pending", f"evaluate version {latest} (created, not yet judged)", rendered, state)


def plan(rendered: Sequence[RenderedPrompt], states: Sequence[PromptState]) -> list[PromptPlan]:
    """Plan every prompt in git, and report registry prompts that git no longer has, sorted by name."""
    by_name = {s.name: s for s in states}
    plans = [plan_prompt(r, by_name.get(r.name)) for r in rendered]
    in_git = {r.name for r in rendered}
    plans += [
        PromptPlan(s.name, "orphan", "in the registry but not in git; sync leaves it alone", None, s)
        for s in states
        if s.name not in in_git
    ]
    return sorted(plans, key=lambda p: p.name)
