"""Pure diff planning: every status from git's rendered prompts and the registry's listing state."""

from __future__ import annotations

from promptops.model import RenderedPrompt
from promptops.plan import plan, plan_prompt
from promptops.registry.base import PromptState, Provenance


def rendered(name: str = "p", content_hash: str = "sha256:new") -> RenderedPrompt:
    return RenderedPrompt(name, "text", "hi {{x}}", {}, (), (), content_hash, f"prompts/{name}.yaml")


def config(content_hash: str, version: int) -> dict[str, object]:
    return {"_promptops": Provenance(content_hash, "abc", "prompts/p.yaml", version).to_config()}


def state(
    latest: int = 2,
    latest_hash: str = "sha256:new",
    latest_labels: tuple[str, ...] = ("latest",),
    production: int | None = 2,
    production_hash: str = "sha256:new",
    made_for: int | None = None,
) -> PromptState:
    return PromptState(
        name="p",
        type="text",
        latest_version=latest,
        latest_labels=latest_labels,
        latest_config=config(latest_hash, made_for if made_for is not None else latest),
        production_version=production,
        production_labels=("production",) if production else (),
        production_config=config(production_hash, production) if production else None,
    )


def test_new_prompt() -> None:
    p = plan_prompt(rendered(), None)
    assert (p.status, p.action, p.pending) == ("new", "create version 1, then judge it on its floors", True)


def test_unchanged_when_latest_matches_git_and_holds_production() -> None:
    p = plan_prompt(rendered(), state(latest_labels=("latest", "production", "release-2")))
    assert (p.status, p.pending) == ("unchanged", False)


def test_changed_when_git_differs_from_latest() -> None:
    p = plan_prompt(rendered(content_hash="sha256:newer"), state())
    assert (p.status, p.action, p.pending) == ("changed", "create version 3 and evaluate it", True)


def test_changed_outside_git_when_latest_was_not_made_by_promptops() -> None:
    # A UI edit copies the config (with our provenance naming version 2) into version 3.
    p = plan_prompt(rendered(), state(latest=3, made_for=2, production=2))
    assert p.status == "changed-outside-git"
    assert p.action == "version 3 was not made by promptops: create version 4 from git and evaluate it"


def test_changed_outside_git_without_any_provenance() -> None:
    s = PromptState("p", "text", 1, ("latest",), {"temperature": 0})
    assert plan_prompt(rendered(), s).status == "changed-outside-git"


def test_pending_when_created_but_not_judged() -> None:
    p = plan_prompt(rendered(), state(latest=3, production=2, production_hash="sha256:old"))
    assert (p.status, p.action, p.pending) == ("pending", "evaluate version 3 (created, not yet judged)", True)


def test_pending_without_any_production() -> None:
    assert plan_prompt(rendered(), state(latest=1, production=None)).status == "pending"


def test_rejected_is_not_rerun_until_git_changes() -> None:
    s = state(latest=3, latest_labels=("latest", "rejected"), production=2, production_hash="sha256:old")
    p = plan_prompt(rendered(), s)
    assert (p.status, p.pending) == ("rejected", False)
    assert plan_prompt(rendered(content_hash="sha256:fixed"), s).status == "changed"


def test_rolled_back_release_is_left_alone() -> None:
    s = state(latest=3, latest_labels=("latest", "release-3"), production=2, production_hash="sha256:old")
    p = plan_prompt(rendered(), s)
    assert (p.status, p.pending) == ("rolled-back", False)
    assert p.action == "version 3 was released and rolled back; production stays on version 2"


def test_git_restored_to_production_content_is_in_sync() -> None:
    s = state(latest=3, latest_hash="sha256:bad", production=2, production_hash="sha256:good")
    p = plan_prompt(rendered(content_hash="sha256:good"), s)
    assert (p.status, p.pending) == ("rolled-back", False)


def test_orphans_and_sorting() -> None:
    other = PromptState("a-gone", "text", 1, ("latest",), config("sha256:x", 1))
    plans = plan([rendered("z"), rendered("m")], [other])
    assert [(p.name, p.status) for p in plans] == [("a-gone", "orphan"), ("m", "new"), ("z", "new")]
