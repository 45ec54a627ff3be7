"""Pure release planning: promotion labels, release history, rollback targets."""

from __future__ import annotations

import pytest

from promptops.registry.base import PromptVersion, Provenance
from promptops.release import NotAReleaseVersion, NothingToRollBackTo, plan_rollback, promotion_labels, releases


def version(number: int, *labels: str) -> PromptVersion:
    config = {"_promptops": Provenance(f"sha256:{number}", f"c{number}", "prompts/p.yaml", number).to_config()}
    return PromptVersion("p", number, "text", f"v{number}", config, labels, (), f"msg {number}", f"2026-11-2{number}")


def test_promotion_labels_count_up() -> None:
    assert promotion_labels(["latest"]) == ("production", "release-1")
    assert promotion_labels(["release-1", "release-2", "production", "rejected"]) == ("production", "release-3")
    assert promotion_labels(["release-9", "release-10"]) == ("production", "release-11")


def test_releases_newest_first_with_provenance() -> None:
    history = releases([version(1, "release-1"), version(2, "release-2", "production", "latest")])
    assert [(r.number, r.version, r.git_commit, r.production) for r in history] == [
        (2, 2, "c2", True),
        (1, 1, "c1", False),
    ]


def test_rollback_goes_to_the_previous_release() -> None:
    planned = plan_rollback("p", [version(1, "release-1"), version(3, "release-2", "production")])
    assert (planned.from_version, planned.to_version, planned.to_release) == (3, 1, 1)


def test_rollback_to_an_explicit_release() -> None:
    labelled = [version(1, "release-1"), version(2), version(3, "release-2", "production")]
    planned = plan_rollback("p", labelled, to_version=1)
    assert (planned.from_version, planned.to_version, planned.to_release, planned.unreleased) == (3, 1, 1, False)


def test_rollback_to_a_version_never_released_needs_an_explicit_allowance() -> None:
    labelled = [version(1, "release-1"), version(3, "release-2", "production")]
    rejected = version(2, "rejected-0123456789ab-01234567")
    with pytest.raises(NotAReleaseVersion) as refused:
        plan_rollback("p", labelled, to_version=2, target=rejected)
    assert str(refused.value) == (
        "p: version 2 was never released (the gate rejected it): rollback --to moves production to releases only; "
        "pass --allow-unreleased to put it in production anyway"
    )
    planned = plan_rollback("p", labelled, to_version=2, target=rejected, allow_unreleased=True)
    assert (planned.from_version, planned.to_version, planned.to_release, planned.unreleased) == (3, 2, None, True)


def test_a_production_that_is_no_release_is_listed_first_and_says_why() -> None:
    history = releases([version(1, "release-1"), version(2, "production", "rejected-0123456789ab-01234567")])
    assert [(r.number, r.version, r.production) for r in history] == [(0, 2, True), (1, 1, False)]
    assert history[0].note == "never released: the gate rejected it; production was moved there by hand (rollback --to)"


def test_rollback_refuses_without_an_earlier_release() -> None:
    with pytest.raises(NothingToRollBackTo, match="production \\(version 1\\) is the first release"):
        plan_rollback("p", [version(1, "release-1", "production")])
    with pytest.raises(NothingToRollBackTo, match="no version holds production"):
        plan_rollback("p", [])
    with pytest.raises(NothingToRollBackTo, match="already on version 1"):
        plan_rollback("p", [version(1, "release-1", "production")], to_version=1)


def test_second_rollback_goes_further_back() -> None:
    labelled = [version(1, "release-1"), version(2, "release-2", "production"), version(3, "release-3")]
    assert plan_rollback("p", labelled).to_version == 1
