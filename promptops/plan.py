"""Pure diff planning: git's rendered prompts against the registry, content-addressed and anchored on production.

A prompt's git content (its content hash) is looked up among all of its versions, not only the newest: content
is never stored twice, and what was decided about it (registry/labels.py) decides what sync does. The version
that holds `production` is what git is compared with. No I/O here: the api gathers a `Lookup` per prompt (the
production content's hash, and the version holding git's content when that is not production) and hands it in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from promptops.model import RenderedPrompt
from promptops.registry.base import PromptState, PromptVersion
from promptops.registry.labels import Decisions, content_label

Status = Literal[
    "new",  # in git, not in the registry
    "changed",  # git's content is not stored yet: sync creates it and judges it against production
    "changed-outside-git",  # as changed, and production was not made from git (e.g. a UI edit)
    "in-sync",  # production holds git's content, judged on the current experiment (or never judged)
    "experiment-changed",  # production holds git's content, judged on another experiment: verify it again
    "pending",  # a version holds git's content and was not judged on this experiment: judge it
    "earlier-release",  # a version holding git's content was released before: judge it, promote without a copy
    "rejected",  # git's content was rejected on this experiment: nothing runs until git changes
    "held",  # production was rolled back from git's content: nothing happens until git changes
    "orphan",  # in the registry, gone from git
]

# Statuses for which `sync` would change the registry (diff exits 2), and the one it refuses (diff exits 1).
PENDING_STATUSES: tuple[Status, ...] = (
    "new",
    "changed",
    "changed-outside-git",
    "experiment-changed",
    "pending",
    "earlier-release",
)
BLOCKING_STATUSES: tuple[Status, ...] = ("rejected",)


@dataclass(frozen=True)
class Lookup:
    """What the api read for one prompt beyond the listings."""

    production_hash: str | None = None  # the content hash of the production version (None: none holds it)
    production_made_by_promptops: bool = True
    match: PromptVersion | None = None  # the version holding git's content, when that is not production


@dataclass(frozen=True)
class PromptPlan:
    """What sync would do for one prompt, and why."""

    name: str
    status: Status
    action: str
    rendered: RenderedPrompt | None  # what git has (None for orphans)
    state: PromptState | None  # what the registry has (None for new prompts)
    fingerprint: str | None = None  # the evaluation fingerprint of git's experiment
    candidate: int | None = None  # the stored version holding git's content, when there is one
    adopt: bool = False  # that version was not made by promptops: sync gives it its content label first
    notes: tuple[str, ...] = field(default_factory=tuple)  # what else is worth knowing (newer versions, ...)

    @property
    def pending(self) -> bool:
        """Return whether sync would change the registry for this prompt."""
        return self.status in PENDING_STATUSES

    @property
    def blocking(self) -> bool:
        """Return whether sync and diff must fail for this prompt until git changes it."""
        return self.status in BLOCKING_STATUSES

    @property
    def production_version(self) -> int | None:
        """Return the version that holds production, if any."""
        return self.state.production_version if self.state else None


def plan_prompt(
    rendered: RenderedPrompt, fingerprint: str, state: PromptState | None, lookup: Lookup | None = None
) -> PromptPlan:
    """Classify one prompt from git against its registry state (see the table in docs/release-state.md)."""
    name, content = rendered.name, rendered.content_hash
    if state is None:
        return PromptPlan(name, "new", "create version 1, then judge it on its floors", rendered, None, fingerprint)
    found = lookup or Lookup()
    decided = state.decisions
    prod = state.production_version
    notes = _notes(state, found)

    def planned(status: Status, action: str, candidate: int | None = None, adopt: bool = False) -> PromptPlan:
        return PromptPlan(name, status, action, rendered, state, fingerprint, candidate, adopt, notes)

    mark = content_label(content)
    if prod is not None and found.production_hash == content:
        adopt = found.match is not None and mark not in found.match.labels
        if decided.rejected_under(content, fingerprint):
            return planned(
                "rejected",
                f"production (version {prod}) holds this content, which failed its gate on this experiment: "
                "change the prompt or the experiment in git",
                prod,
            )
        if decided.judged(content) and not decided.passed_under(content, fingerprint):
            return planned(
                "experiment-changed",
                f"the experiment changed since production (version {prod}) was judged: run it again; it must "
                "still meet its floors",
                prod,
                adopt,
            )
        return planned("in-sync", f"production (version {prod}) holds this content; nothing to do", prod, adopt)
    against = f"production (version {prod})" if prod is not None else "its floors (no version holds production)"
    match = found.match
    if match is not None:
        number, adopt = match.version, mark not in match.labels
        if decided.rejected_under(content, fingerprint):
            return planned(
                "rejected",
                f"version {number} has this content and was rejected by the gate: change the prompt in git "
                f"({_stays(prod)})",
                number,
            )
        if decided.held(content):
            return planned(
                "held",
                f"production was rolled back from version {number}, which has this content: sync holds it until "
                f"git changes the prompt ({_stays(prod)}; `promptops rollback {name} --to {number}` releases it "
                "again)",
                number,
            )
        releases = Decisions.of(match.labels).releases
        if releases:
            return planned(
                "earlier-release",
                f"version {number} was released before (release-{releases[-1]}): judge it against {against} and "
                "promote it without a new version if it wins",
                number,
                adopt,
            )
        again = ", judged before on another experiment" if decided.judged(content) else ""
        if adopt:
            action = f"version {number} has this content but was made outside promptops: adopt it and judge it"
        else:
            action = f"version {number} has this content and awaits the gate{again}: judge it"
        return planned("pending", f"{action} against {against}", number, adopt)
    create = f"create version {state.latest_version + 1}"
    if prod is not None and not found.production_made_by_promptops:
        return planned(
            "changed-outside-git",
            f"production (version {prod}) was not made from git: {create} from git and judge it against it "
            f"(or `promptops pull {name} --version {prod}` to bring it into git)",
        )
    return planned("changed", f"{create} and judge it against {against}")


def _stays(production: int | None) -> str:
    return f"production stays on version {production}" if production is not None else "no version holds production"


def _notes(state: PromptState, found: Lookup) -> tuple[str, ...]:
    """Say where the newest version differs from production, and whether it was made outside git."""
    newest, prod = state.latest_version, state.production_version
    outside = state.latest_provenance is None and (found.match is None or found.match.version != newest)
    if newest == prod or (prod is None and not outside):
        return ()
    if outside:
        return (
            f"the newest version is {newest}, made outside git (e.g. in the Langfuse UI); production is on "
            f"{_named(prod)}; `promptops pull {state.name} --version {newest}` writes it into the file",
        )
    return (f"the newest version is {newest}; production is on {_named(prod)}",)


def _named(version: int | None) -> str:
    return f"version {version}" if version is not None else "no version"


def plan(
    rendered: Sequence[RenderedPrompt],
    fingerprints: Mapping[str, str],
    states: Sequence[PromptState],
    lookups: Mapping[str, Lookup] | None = None,
) -> list[PromptPlan]:
    """Plan every prompt in git, and report registry prompts that git no longer has, sorted by name."""
    by_name = {s.name: s for s in states}
    found = lookups or {}
    plans = [plan_prompt(r, fingerprints[r.name], by_name.get(r.name), found.get(r.name)) for r in rendered]
    in_git = {r.name for r in rendered}
    plans += [
        PromptPlan(s.name, "orphan", "in the registry but not in git; sync leaves it alone", None, s)
        for s in states
        if s.name not in in_git
    ]
    return sorted(plans, key=lambda p: p.name)
