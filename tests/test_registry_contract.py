"""One contract for every registry: the same tests against the local SQLite file and against Langfuse (the double,
through the real SDK), so both show Langfuse's semantics: numbering, `latest`, label moves, lookups, listings,
provenance, datasets, and concurrent writers.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

from promptops.errors import LabelNotFound, PromptNotFound, RegistryError
from promptops.model import DatasetItem, DatasetSpec, RenderedPrompt
from promptops.registry.base import PROVENANCE_KEY, PromptState, PromptVersion, Provenance, Registry, RemoteItem
from promptops.registry.labels import content_label
from promptops.registry.langfuse import LangfuseRegistry
from promptops.registry.local import LocalRegistry
from promptops.render import content_hash

GREETING = "Hello {{name}}, welcome to {{company}}."
CHAT = (
    {"role": "system", "content": "You are a polite support agent."},
    {"type": "placeholder", "name": "history"},
    {"role": "user", "content": "{{question}}"},
)


def rendered(name: str, prompt: str | tuple[dict[str, str], ...] = GREETING, **config: Any) -> RenderedPrompt:
    """Return a rendered prompt as promptops' render would produce it."""
    kind: Literal["text", "chat"] = "text" if isinstance(prompt, str) else "chat"
    config = config or {"temperature": 0}
    return RenderedPrompt(
        name, kind, prompt, config, ("demo",), (), content_hash(kind, prompt, config), f"prompts/{name}.yaml"
    )


def provenance(r: RenderedPrompt, expected: int = 1) -> Provenance:
    """Return the provenance publish.create_version would record for `r`."""
    return Provenance(r.content_hash, "0123456789abcdef0123456789abcdef01234567", r.source_path, expected)


def create(reg: Registry, r: RenderedPrompt, labels: tuple[str, ...] = ()) -> PromptVersion:
    """Create the next version of `r` with provenance, as publish does."""
    return reg.create_version(r, provenance(r), labels=labels, commit_message=f"change {r.name}")


def mark(prompt: str | tuple[dict[str, str], ...], name: str = "greeting") -> str:
    """Return the content label of `rendered(name, prompt)`."""
    return content_label(rendered(name, prompt).content_hash)


@dataclass
class Backend:
    """A registry under test, plus how a person would edit it outside promptops (the UI, another tool)."""

    kind: str
    registry: Registry
    ui_edit: Callable[[str, str, dict[str, Any]], None]
    where: dict[str, Any]  # what a separate process or thread needs to open the same registry


def open_backend(kind: str, where: dict[str, Any]) -> Registry:
    """Open another instance of the same registry (for concurrent writers)."""
    if kind == "local":
        return LocalRegistry(Path(where["path"]))
    return LangfuseRegistry(
        where["public_key"], where["secret_key"], where["base_url"], timeout=5, sleep=lambda _: None
    )


@pytest.fixture(params=["local", "langfuse"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Yield each registry in turn, empty."""
    if request.param == "local":
        where: dict[str, Any] = {"path": str(tmp_path / ".promptops" / "registry.db")}
        registry = open_backend("local", where)
        local = registry

        def ui_edit(name: str, prompt: str, config: dict[str, Any]) -> None:
            assert isinstance(local, LocalRegistry)
            local.create_raw_version(name, prompt, config)
    else:
        double = request.getfixturevalue("langfuse_double")
        where = {"public_key": double.public_key, "secret_key": double.secret_key, "base_url": double.base_url}
        registry = open_backend("langfuse", where)

        def ui_edit(name: str, prompt: str, config: dict[str, Any]) -> None:
            double.store.create_prompt_version(name, prompt, config=config)

    yield Backend(request.param, registry, ui_edit, where)
    registry.close()


# -- numbering, latest and labels ---------------------------------------------------------------


def test_versions_count_from_one_and_latest_is_on_the_newest(backend: Backend) -> None:
    reg = backend.registry
    made = [create(reg, rendered("greeting", f"Hello number {n}")) for n in (1, 2, 3)]
    assert [v.version for v in made] == [1, 2, 3]
    assert [reg.get_version("greeting", version=n).labels for n in (1, 2, 3)] == [
        (mark("Hello number 1"),),
        (mark("Hello number 2"),),
        (mark("Hello number 3"), "latest"),
    ]
    assert reg.get_version("greeting", label="latest").prompt == "Hello number 3"


def test_a_created_version_holds_what_was_rendered_and_its_provenance(backend: Backend) -> None:
    r = rendered("support/agent", CHAT, temperature=0.2)
    v = create(backend.registry, r, labels=("staging",))
    assert (v.name, v.version, v.type, v.prompt) == ("support/agent", 1, "chat", CHAT)
    assert v.config == {"temperature": 0.2, PROVENANCE_KEY: provenance(r).to_config()}
    assert (v.labels, v.tags, v.commit_message) == (
        (content_label(r.content_hash), "staging", "latest"),
        ("demo",),
        "change support/agent",
    )
    assert v.made_by_promptops and v.content_hash() == r.content_hash
    assert backend.registry.get_version("support/agent", version=1) == v


def test_creating_with_labels_moves_them_off_older_versions(backend: Backend) -> None:
    reg = backend.registry
    create(reg, rendered("greeting", "v1"), labels=("production", "staging"))
    v2 = create(reg, rendered("greeting", "v2"), labels=("production",))
    assert reg.get_version("greeting", version=1).labels == (mark("v1"), "staging")
    assert v2.labels == (mark("v2"), "production", "latest")


def test_set_labels_adds_and_moves_labels_but_never_latest(backend: Backend) -> None:
    reg = backend.registry
    create(reg, rendered("greeting", "v1"), labels=("staging",))
    create(reg, rendered("greeting", "v2"), labels=("production",))
    moved = reg.set_labels("greeting", 1, ["production", "release-1"])
    assert moved.labels == (mark("v1"), "staging", "production", "release-1")
    assert reg.get_version("greeting", version=2).labels == (mark("v2"), "latest")
    assert reg.set_labels("greeting", 1, ["production"]).labels == (mark("v1"), "staging", "production", "release-1")
    with pytest.raises(RegistryError) as err:
        reg.set_labels("greeting", 1, ["latest"])
    assert str(err.value) == "greeting: the label 'latest' is always on the newest version and cannot be set"
    with pytest.raises(PromptNotFound) as missing:
        reg.set_labels("greeting", 7, ["production"])
    assert str(missing.value) == "prompt 'greeting' has no version 7 (2 version(s), the newest is 2)"


# -- lookups ------------------------------------------------------------------------------------


def test_get_version_by_number_label_and_by_default_production(backend: Backend) -> None:
    reg = backend.registry
    create(reg, rendered("greeting", "v1"), labels=("production",))
    create(reg, rendered("greeting", "v2"), labels=("staging",))
    assert reg.get_version("greeting").version == 1
    assert reg.get_version("greeting", label="staging").version == 2
    assert reg.get_version("greeting", version=1).prompt == "v1"


def test_missing_prompts_versions_and_labels_say_what_is_missing(backend: Backend) -> None:
    reg = backend.registry
    with pytest.raises(PromptNotFound) as no_prompt:
        reg.get_version("greeting")
    assert str(no_prompt.value) == f"prompt 'greeting' is not in {_where(backend)}"
    create(reg, rendered("greeting", "v1"), labels=("staging",))
    with pytest.raises(LabelNotFound) as no_label:
        reg.get_version("greeting")
    assert str(no_label.value) == (
        f"no version of 'greeting' carries the label 'production' (its labels: {mark('v1')}, latest, staging)"
    )
    with pytest.raises(PromptNotFound) as no_version:
        reg.get_version("greeting", version=4)
    assert str(no_version.value) == "prompt 'greeting' has no version 4 (1 version(s), the newest is 1)"
    with pytest.raises(PromptNotFound):
        reg.all_labels("nope")
    with pytest.raises(PromptNotFound):
        reg.labelled_versions("nope")


def _where(backend: Backend) -> str:
    return f"the {backend.registry.describe()}" if backend.kind == "local" else backend.registry.describe()


def test_all_labels_and_labelled_versions(backend: Backend) -> None:
    reg = backend.registry
    create(reg, rendered("greeting", "v1"), labels=("production", "release-1"))
    create(reg, rendered("greeting", "v2"))
    create(reg, rendered("greeting", "v3"), labels=("staging",))
    reg.set_labels("greeting", 2, ["production", "release-2"])
    marks = sorted(mark(v) for v in ("v1", "v2", "v3"))
    assert reg.all_labels("greeting") == (*marks, "latest", "production", "release-1", "release-2", "staging")
    labelled = reg.labelled_versions("greeting")
    assert [(v.version, v.labels) for v in labelled] == [
        (1, (mark("v1"), "release-1")),
        (2, (mark("v2"), "production", "release-2")),
        (3, (mark("v3"), "staging", "latest")),
    ]


# -- listing ------------------------------------------------------------------------------------


def test_list_prompts_reports_every_label_latest_and_production_with_provenance(backend: Backend) -> None:
    reg = backend.registry
    agent1, agent2 = rendered("support/agent", CHAT), rendered("support/agent", CHAT[:1])
    create(reg, agent1, labels=("production",))
    create(reg, agent2, labels=("staging",))
    capital = rendered("capital-cities", "Capital of {{country}}?")
    create(reg, capital)
    states = reg.list_prompts()
    assert [s.name for s in states] == ["capital-cities", "support/agent"]
    agent_config = {"temperature": 0, PROVENANCE_KEY: provenance(agent1).to_config()}
    marks = sorted(content_label(r.content_hash) for r in (agent1, agent2))
    assert states[1] == PromptState(
        name="support/agent",
        type="chat",
        versions=(1, 2),
        labels=(*marks, "latest", "production", "staging"),
        latest_config={"temperature": 0, PROVENANCE_KEY: provenance(agent2, 2).to_config()},
        production_version=1,
        production_labels=(content_label(agent1.content_hash), "production"),
        production_config=agent_config,
    )
    assert states[1].latest_provenance == provenance(agent2, 2)
    assert states[1].production_provenance == provenance(agent1)
    assert states[1].decisions.stored(agent1.content_hash) and states[1].decisions.stored(agent2.content_hash)
    assert states[0].production_version is None and states[0].labels == (content_label(capital.content_hash), "latest")
    assert states[0].latest_provenance == provenance(capital)


def test_an_empty_registry_lists_nothing(backend: Backend) -> None:
    assert backend.registry.list_prompts() == []


# -- provenance and re-creating -----------------------------------------------------------------


def test_creating_what_promptops_just_created_returns_that_version(backend: Backend) -> None:
    reg = backend.registry
    r = rendered("greeting")
    first = create(reg, r)
    assert create(reg, r) == first  # two syncs at once: the second finds the first one's version
    assert reg.list_prompts()[0].latest_version == 1


def test_content_is_stored_once_whichever_version_holds_it(backend: Backend) -> None:
    reg = backend.registry
    first, second = create(reg, rendered("greeting", "v1")), create(reg, rendered("greeting", "v2"))
    assert create(reg, rendered("greeting", "v1")) == reg.get_version("greeting", version=1)  # not the newest
    assert reg.list_prompts()[0].versions == (1, 2)
    assert reg.find_content("greeting", rendered("greeting", "v1").content_hash) == reg.get_version(
        "greeting", version=first.version
    )
    assert reg.find_content("greeting", rendered("greeting", "v2").content_hash) == second
    assert reg.find_content("greeting", rendered("greeting", "v3").content_hash) is None
    assert reg.find_content("nope", rendered("greeting", "v3").content_hash) is None


def test_a_ui_edit_that_copied_our_config_is_not_ours_and_git_content_is_found_where_it_is(backend: Backend) -> None:
    reg = backend.registry
    r = rendered("greeting")
    first = create(reg, r)
    backend.ui_edit("greeting", "Hi {{name}}!", dict(first.config))  # the UI copies the config, `_promptops` too
    state = reg.list_prompts()[0]
    assert (state.latest_version, state.latest_provenance) == (2, None)
    assert not reg.get_version("greeting", version=2).made_by_promptops
    assert create(reg, r) == reg.get_version("greeting", version=1)  # git still says GREETING: version 1 has it


def test_the_provenance_records_the_number_the_version_really_got(backend: Backend) -> None:
    reg = backend.registry
    create(reg, rendered("greeting", "v1"))
    stale = rendered("greeting", "v2")  # planned against an empty registry: expected version 1
    v = reg.create_version(stale, provenance(stale, 1), commit_message="late")
    assert (v.version, v.made_by_promptops) == (2, True)


def test_a_promotion_sets_its_decision_labels_in_the_same_write(backend: Backend) -> None:
    reg = backend.registry
    create(reg, rendered("greeting", "v1"))
    promoted = reg.promote("greeting", 1, expect_production=None, labels=["passed-0123456789ab-01234567"])
    assert promoted.labels == (mark("v1"), "latest", "production", "release-1", "passed-0123456789ab-01234567")


# -- datasets -----------------------------------------------------------------------------------


def dataset(*items: DatasetItem, description: str = "capitals") -> DatasetSpec:
    """Return a dataset spec as the project loader would."""
    return DatasetSpec("capitals", "prompts/datasets/capitals.yaml", description, items, (), {"owner": "geo"})


FR = DatasetItem("fr", {"country": "France"}, "Paris", {"region": "eu"})
JP = DatasetItem("jp", {"country": "Japan"}, "Tokyo")
PE = DatasetItem("pe", {"country": "Peru"}, "Lima")


def remote(item: DatasetItem) -> RemoteItem:
    """Return how the registry should hold a git item."""
    return RemoteItem(item.id, dict(item.input), item.expected_output, dict(item.metadata), "ACTIVE")


def items(reg: Registry) -> list[RemoteItem]:
    """Return the active items sorted by id (Langfuse lists newest first, SQLite oldest first)."""
    return sorted(reg.dataset_items("capitals"), key=lambda i: i.id)


def test_dataset_is_created_then_items_upserted_by_id_and_removed_ones_archived(backend: Backend) -> None:
    reg = backend.registry
    first = reg.sync_dataset(dataset(FR, JP))
    assert (first.created, first.upserted, first.archived, first.unchanged) == (True, 2, 0, 0)
    again = reg.sync_dataset(dataset(FR, JP))
    assert (again.created, again.upserted, again.archived, again.unchanged) == (False, 0, 0, 2)
    jp2 = DatasetItem("jp", {"country": "Japan"}, "Tōkyō")
    changed = reg.sync_dataset(dataset(jp2, PE, description="capitals of the world"))
    assert (changed.created, changed.upserted, changed.archived, changed.unchanged) == (False, 2, 1, 0)
    assert items(reg) == [remote(jp2), remote(PE)]
    back = reg.sync_dataset(dataset(FR, jp2, PE))  # an archived item that returns to git is active again
    assert (back.upserted, back.archived, back.unchanged) == (1, 0, 2)
    assert items(reg) == [remote(FR), remote(jp2), remote(PE)]


def test_a_dataset_dry_run_counts_and_writes_nothing(backend: Backend) -> None:
    reg = backend.registry
    fresh = reg.sync_dataset(dataset(FR, JP), dry_run=True)
    assert (fresh.created, fresh.upserted, fresh.archived, fresh.unchanged) == (True, 2, 0, 0)
    with pytest.raises(RegistryError):
        reg.dataset_items("capitals")  # nothing was created
    reg.sync_dataset(dataset(FR, JP))
    jp2 = DatasetItem("jp", {"country": "Japan"}, "Tōkyō")
    planned = reg.sync_dataset(dataset(jp2, PE), dry_run=True)
    assert (planned.created, planned.upserted, planned.archived, planned.unchanged) == (False, 2, 1, 0)
    assert items(reg) == [remote(FR), remote(JP)]


def test_datasets_are_listed_by_name_with_description_and_metadata(backend: Backend) -> None:
    reg = backend.registry
    assert reg.list_datasets() == []
    reg.sync_dataset(dataset(FR))
    reg.sync_dataset(DatasetSpec("another", "prompts/datasets/another.yaml", "more", (PE,), (), {}))
    assert [(d.name, d.description, dict(d.metadata)) for d in reg.list_datasets()] == [
        ("another", "more", {}),
        ("capitals", "capitals", {"owner": "geo"}),
    ]


def test_dataset_item_ids_are_unique_across_datasets(backend: Backend) -> None:
    reg = backend.registry
    reg.sync_dataset(dataset(FR))
    other = DatasetSpec("other", "prompts/datasets/other.yaml", "", (FR,))
    with pytest.raises(RegistryError):
        reg.sync_dataset(other)


def test_items_of_an_unknown_dataset_are_an_error(backend: Backend) -> None:
    with pytest.raises(RegistryError) as err:
        backend.registry.dataset_items("capitals")
    assert str(err.value).startswith("dataset 'capitals' is not in ")


# -- concurrent writers -------------------------------------------------------------------------

WRITERS, ROUNDS = 3, 30


def write_rounds(kind: str, where: dict[str, Any], worker: int, start: Any) -> None:
    """Create versions and move labels as one of several concurrent syncs would (runs in a thread or process)."""
    reg = open_backend(kind, where)
    start.wait(30)  # a barrier: all writers are up before any writes, so their transactions really interleave
    try:
        for n in range(ROUNDS):
            v = create(reg, rendered("shared", f"worker {worker} round {n}"))
            reg.set_labels("shared", v.version, ["production", f"worker-{worker}"])
    finally:
        reg.close()


def test_concurrent_writers_lose_no_version_and_no_label(backend: Backend) -> None:
    # Processes for SQLite (the real deployment: two CI jobs), threads for Langfuse (one server either way).
    context: Any = multiprocessing.get_context("spawn") if backend.kind == "local" else threading
    start = context.Barrier(WRITERS)
    make = context.Process if backend.kind == "local" else context.Thread
    workers = [make(target=write_rounds, args=(backend.kind, backend.where, w, start)) for w in range(WRITERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert all(getattr(w, "exitcode", 0) == 0 for w in workers)
    reg, total = backend.registry, WRITERS * ROUNDS
    versions = [reg.get_version("shared", version=n) for n in range(1, total + 1)]
    assert sorted(str(v.prompt) for v in versions) == sorted(
        f"worker {w} round {n}" for w in range(WRITERS) for n in range(ROUNDS)
    )
    with pytest.raises(PromptNotFound):
        reg.get_version("shared", version=total + 1)
    holders = {label: [v.version for v in versions if label in v.labels] for label in reg.all_labels("shared")}
    assert holders.pop("latest") == [total]
    assert len(holders.pop("production")) == 1
    for w in range(WRITERS):
        (held,) = holders.pop(f"worker-{w}")
        assert versions[held - 1].prompt == f"worker {w} round {ROUNDS - 1}"
    for v in versions:  # each version holds exactly its own content's label
        assert holders.pop(content_label(v.content_hash())) == [v.version]
    assert holders == {}
