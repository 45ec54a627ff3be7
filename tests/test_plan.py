"""Pure diff planning: every status of docs/release-state.md's table, from git's content and the registry's labels."""

from __future__ import annotations

from promptops.model import RenderedPrompt
from promptops.plan import Lookup, plan, plan_prompt
from promptops.registry.base import PromptState, PromptVersion, Provenance
from promptops.registry.labels import content_label, passed_label, rejected_label, rolled_back_label

GIT = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64
FP = "sha256:" + "f" * 64  # the experiment in git
OLD_FP = "sha256:" + "e" * 64


def rendered(name: str = "p", content_hash: str = GIT) -> RenderedPrompt:
    return RenderedPrompt(name, "text", "hi {{x}}", {}, (), (), content_hash, f"prompts/{name}.yaml")


def config(content_hash: str, version: int) -> dict[str, object]:
    return {"_promptops": Provenance(content_hash, "abc", "prompts/p.yaml", version).to_config()}


def state(
    versions: int = 2,
    labels: tuple[str, ...] = (),
    production: int | None = 1,
    production_hash: str = OTHER,
    latest_hash: str = OTHER,
    latest_made_for: int | None = None,
) -> PromptState:
    return PromptState(
        name="p",
        type="text",
        versions=tuple(range(1, versions + 1)),
        labels=tuple(sorted({"latest", *labels, *(("production",) if production else ())})),
        latest_config=config(latest_hash, latest_made_for or versions),
        production_version=production,
        production_labels=("production",) if production else (),
        production_config=config(production_hash, production) if production else None,
    )


def version(number: int, *labels: str, content_hash: str = GIT) -> PromptVersion:
    return PromptVersion("p", number, "text", "hi {{x}}", config(content_hash, number), labels, (), "m")


def status(s: PromptState | None, lookup: Lookup | None = None, content_hash: str = GIT) -> tuple[str, str]:
    p = plan_prompt(rendered(content_hash=content_hash), FP, s, lookup)
    return p.status, p.action


def test_new_prompt() -> None:
    p = plan_prompt(rendered(), FP, None)
    assert (p.status, p.action, p.pending, p.blocking) == (
        "new",
        "create version 1, then judge it on its floors",
        True,
        False,
    )


def test_content_not_stored_is_created_and_judged_against_production() -> None:
    assert status(state(), Lookup(OTHER)) == ("changed", "create version 3 and judge it against production (version 1)")
    assert status(state(production=None), Lookup()) == (
        "changed",
        "create version 3 and judge it against its floors (no version holds production)",
    )


def test_production_made_outside_git_is_changed_outside_git() -> None:
    s = state(production_hash=OTHER)
    assert status(s, Lookup(OTHER, production_made_by_promptops=False)) == (
        "changed-outside-git",
        "production (version 1) was not made from git: create version 3 from git and judge it against it "
        "(or `promptops pull p --version 1` to bring it into git)",
    )


def test_content_equal_to_production_is_in_sync() -> None:
    s = state(labels=(content_label(GIT), passed_label(GIT, FP)), production_hash=GIT)
    p = plan_prompt(rendered(), FP, s, Lookup(GIT))
    assert (p.status, p.pending, p.candidate) == ("in-sync", False, 1)
    assert p.notes == ("the newest version is 2; production is on version 1",)


def test_a_production_never_judged_by_promptops_is_in_sync() -> None:
    s = state(labels=(content_label(GIT),), production_hash=GIT, versions=1)
    assert status(s, Lookup(GIT))[0] == "in-sync"


def test_production_judged_on_another_experiment_is_run_again() -> None:
    s = state(labels=(content_label(GIT), passed_label(GIT, OLD_FP)), production_hash=GIT)
    p = plan_prompt(rendered(), FP, s, Lookup(GIT))
    assert (p.status, p.pending) == ("experiment-changed", True)
    assert p.action == (
        "the experiment changed since production (version 1) was judged: run it again; it must still meet its floors"
    )


def test_production_that_failed_the_changed_experiment_blocks() -> None:
    s = state(labels=(content_label(GIT), passed_label(GIT, OLD_FP), rejected_label(GIT, FP)), production_hash=GIT)
    p = plan_prompt(rendered(), FP, s, Lookup(GIT))
    assert (p.status, p.blocking, p.pending) == ("rejected", True, False)


def test_rejected_content_is_not_run_again_and_blocks() -> None:
    s = state(labels=(content_label(GIT), rejected_label(GIT, FP)))
    p = plan_prompt(rendered(), FP, s, Lookup(OTHER, match=version(2, content_label(GIT), rejected_label(GIT, FP))))
    assert (p.status, p.blocking, p.candidate) == ("rejected", True, 2)
    assert p.action == (
        "version 2 has this content and was rejected by the gate: change the prompt in git "
        "(production stays on version 1)"
    )


def test_content_rejected_on_another_experiment_is_judged_again() -> None:
    s = state(labels=(content_label(GIT), rejected_label(GIT, OLD_FP)))
    p = plan_prompt(rendered(), FP, s, Lookup(OTHER, match=version(2, content_label(GIT), rejected_label(GIT, OLD_FP))))
    assert (p.status, p.pending) == ("pending", True)
    assert p.action == (
        "version 2 has this content and awaits the gate, judged before on another experiment: judge it against "
        "production (version 1)"
    )


def test_content_production_was_rolled_back_from_is_held() -> None:
    s = state(labels=(content_label(GIT), passed_label(GIT, FP), rolled_back_label(GIT), "release-2"))
    match = version(2, content_label(GIT), passed_label(GIT, FP), rolled_back_label(GIT), "release-2")
    p = plan_prompt(rendered(), FP, s, Lookup(OTHER, match=match))
    assert (p.status, p.pending, p.blocking) == ("held", False, False)
    assert p.action == (
        "production was rolled back from version 2, which has this content: sync holds it until git changes the "
        "prompt (production stays on version 1; `promptops rollback p --to 2` releases it again)"
    )


def test_an_earlier_release_is_judged_again_without_a_new_version() -> None:
    s = state(versions=3, labels=(content_label(GIT), passed_label(GIT, FP), "release-1"), production=2)
    match = version(1, content_label(GIT), passed_label(GIT, FP), "release-1")
    p = plan_prompt(rendered(), FP, s, Lookup(OTHER, match=match))
    assert (p.status, p.pending, p.candidate) == ("earlier-release", True, 1)
    assert p.action == (
        "version 1 was released before (release-1): judge it against production (version 2) and promote it "
        "without a new version if it wins"
    )


def test_a_version_created_but_never_judged_is_pending() -> None:
    s = state(labels=(content_label(GIT),))
    p = plan_prompt(rendered(), FP, s, Lookup(OTHER, match=version(2, content_label(GIT))))
    assert (p.status, p.candidate, p.adopt) == ("pending", 2, False)
    assert p.action == "version 2 has this content and awaits the gate: judge it against production (version 1)"


def test_a_version_made_outside_promptops_with_git_content_is_adopted() -> None:
    s = state(latest_made_for=1)  # a UI edit: its config was copied from version 1
    p = plan_prompt(rendered(), FP, s, Lookup(OTHER, match=version(2)))
    assert (p.status, p.candidate, p.adopt) == ("pending", 2, True)
    assert p.notes == ("the newest version is 2; production is on version 1",)


def test_a_ui_edit_newer_than_production_is_noted() -> None:
    s = state(latest_made_for=1, production_hash=GIT, labels=(content_label(GIT),))
    p = plan_prompt(rendered(), FP, s, Lookup(GIT))
    assert p.status == "in-sync"
    assert p.notes == (
        "the newest version is 2, made outside git (e.g. in the Langfuse UI); production is on version 1; "
        "`promptops pull p --version 2` writes it into the file",
    )


def test_orphans_and_sorting() -> None:
    other = PromptState("a-gone", "text", (1,), ("latest",), config(OTHER, 1))
    plans = plan([rendered("z"), rendered("m")], {"z": FP, "m": FP}, [other])
    assert [(p.name, p.status) for p in plans] == [("a-gone", "orphan"), ("m", "new"), ("z", "new")]
