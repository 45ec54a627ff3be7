"""Pure release planning: which labels a promotion sets, where a rollback goes, the release history.

Like alembic's revision graph, nothing here touches storage: it takes what the registry said and returns a plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from promptops.errors import PromptopsError
from promptops.registry.base import PRODUCTION, PromptVersion, next_release, release_numbers


class NothingToRollBackTo(PromptopsError):
    """There is no earlier release (or no such version) to move production to."""


def promotion_labels(all_labels: Sequence[str]) -> tuple[str, str]:
    """Return the labels a promotion sets: production and the next release-N of this prompt."""
    return PRODUCTION, next_release(all_labels)


@dataclass(frozen=True)
class Release:
    """One promotion in a prompt's history."""

    number: int
    version: int
    created_at: str | None
    git_commit: str | None
    commit_message: str | None
    production: bool


def releases(labelled: Sequence[PromptVersion]) -> list[Release]:
    """Return a prompt's releases, newest first, from its labelled versions."""
    found = []
    for v in labelled:
        prov = v.provenance
        for number in release_numbers(v.labels):
            found.append(
                Release(
                    number=number,
                    version=v.version,
                    created_at=v.created_at,
                    git_commit=prov.git_commit if prov else None,
                    commit_message=v.commit_message,
                    production=PRODUCTION in v.labels,
                )
            )
    return sorted(found, key=lambda r: r.number, reverse=True)


@dataclass(frozen=True)
class RollbackPlan:
    """Where production is and where a rollback moves it."""

    name: str
    from_version: int | None
    to_version: int
    to_release: int | None


def plan_rollback(name: str, labelled: Sequence[PromptVersion], to_version: int | None = None) -> RollbackPlan:
    """Plan moving production to the release before the current one (or to `to_version`)."""
    current = next((v.version for v in labelled if PRODUCTION in v.labels), None)
    history = releases(labelled)
    if to_version is not None:
        if to_version == current:
            raise NothingToRollBackTo(f"{name}: production is already on version {to_version}")
        number = next((r.number for r in history if r.version == to_version), None)
        return RollbackPlan(name, current, to_version, number)
    if current is None:
        raise NothingToRollBackTo(f"{name}: no version holds production, so there is nothing to roll back")
    current_release = max((r.number for r in history if r.version == current), default=None)
    earlier = [r for r in history if r.version != current and (current_release is None or r.number < current_release)]
    if not earlier:
        raise NothingToRollBackTo(
            f"{name}: production (version {current}) is the first release; there is no earlier release to roll back "
            "to (use --to VERSION)"
        )
    target = earlier[0]
    return RollbackPlan(name, current, target.version, target.number)
