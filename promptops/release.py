"""Pure release planning: which labels a promotion sets, where a rollback goes, the release history.

Like alembic's revision graph, nothing here touches storage: it takes what the registry said and returns a plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from promptops.errors import PromptopsError
from promptops.registry.base import PromptVersion
from promptops.registry.labels import PRODUCTION, Decisions, next_release, release_numbers


class NothingToRollBackTo(PromptopsError):
    """There is no earlier release (or no such version) to move production to."""


class NotAReleaseVersion(PromptopsError):
    """`rollback --to` named a version the gate never released; the operator must say so explicitly."""


def promotion_labels(all_labels: Sequence[str]) -> tuple[str, str]:
    """Return the labels a promotion sets: production and the next release-N of this prompt."""
    return PRODUCTION, next_release(all_labels)


@dataclass(frozen=True)
class Release:
    """One promotion in a prompt's history (or, numbered 0, a production that was never a release)."""

    number: int  # 0: production is on a version the gate never released
    version: int
    created_at: str | None
    git_commit: str | None
    commit_message: str | None
    production: bool
    rolled_back: bool = False  # production was rolled back from this version's content at some point
    note: str = ""


def releases(labelled: Sequence[PromptVersion]) -> list[Release]:
    """Return a prompt's releases, newest first; production on a version that is no release comes first."""
    found = []
    for v in labelled:
        prov, decided = v.provenance, Decisions.of(v.labels)
        common = {
            "version": v.version,
            "created_at": v.created_at,
            "git_commit": prov.git_commit if prov else None,
            "commit_message": v.commit_message,
            "production": PRODUCTION in v.labels,
            "rolled_back": bool(decided.rolled_back),
        }
        numbers = release_numbers(v.labels)
        for number in numbers:
            found.append(Release(number=number, **common))  # type: ignore[arg-type]
        if not numbers and PRODUCTION in v.labels:
            found.append(Release(number=0, note=unreleased_reason(v), **common))  # type: ignore[arg-type]
    return sorted(found, key=lambda r: (r.number == 0, r.number), reverse=True)


def unreleased_reason(v: PromptVersion) -> str:
    """Say why a version holding production is no release: what the gate decided about it, if anything."""
    decided = Decisions.of(v.labels)
    if decided.rejected:
        return "never released: the gate rejected it; production was moved there by hand (rollback --to)"
    if v.provenance is None:
        return "never released: made outside promptops, production was set outside promptops"
    return "never released by the gate; production was moved there by hand"


@dataclass(frozen=True)
class RollbackPlan:
    """Where production is and where a rollback moves it."""

    name: str
    from_version: int | None
    to_version: int
    to_release: int | None
    unreleased: bool = False  # the target was never released by the gate (needs an explicit allowance)


def plan_rollback(
    name: str,
    labelled: Sequence[PromptVersion],
    to_version: int | None = None,
    *,
    target: PromptVersion | None = None,
    allow_unreleased: bool = False,
) -> RollbackPlan:
    """Plan moving production to the release before the current one (or to `to_version`, given as `target`)."""
    current = next((v.version for v in labelled if PRODUCTION in v.labels), None)
    history = [r for r in releases(labelled) if r.number]
    if to_version is not None:
        if to_version == current:
            raise NothingToRollBackTo(f"{name}: production is already on version {to_version}")
        number = max((r.number for r in history if r.version == to_version), default=None)
        if number is None and not allow_unreleased:
            why = unreleased_reason(target) if target is not None else "never released by the gate"
            raise NotAReleaseVersion(
                f"{name}: version {to_version} was {_never(why)}: rollback --to moves production to releases "
                "only; pass --allow-unreleased to put it in production anyway"
            )
        return RollbackPlan(name, current, to_version, number, unreleased=number is None)
    if current is None:
        raise NothingToRollBackTo(f"{name}: no version holds production, so there is nothing to roll back")
    current_release = max((r.number for r in history if r.version == current), default=None)
    earlier = [r for r in history if r.version != current and (current_release is None or r.number < current_release)]
    if not earlier:
        raise NothingToRollBackTo(
            f"{name}: production (version {current}) is the first release; there is no earlier release to roll back "
            "to (use --to VERSION)"
        )
    target_release = earlier[0]
    return RollbackPlan(name, current, target_release.version, target_release.number)


def _never(reason: str) -> str:
    """Turn 'never released: the gate rejected it; ...' into 'never released (the gate rejected it)'."""
    head, _, rest = reason.partition(": ")
    detail = rest.split(";")[0] if rest else ""
    return f"{head} ({detail})" if detail else head
