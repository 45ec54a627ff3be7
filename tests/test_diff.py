"""`promptops diff`, `status` and `push` end to end: the real CLI on a real git repository, against the local
registry and against Langfuse (the double, through the real SDK).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from promptops import api
from promptops.api.planning import fingerprints
from promptops.registry.base import Registry
from promptops.registry.langfuse import LangfuseRegistry
from promptops.registry.local import LocalRegistry
from tests.helpers import Run, git_init, make_project, run_cli

NEW = [
    "+ capital-cities  new: create version 1, then judge it on its floors",
    "+ support-agent   new: create version 1, then judge it on its floors",
]
AWAITS = "version 1 has this content and awaits the gate: judge it against its floors (no version holds production)"
PENDING_AGENT = f"? support-agent   pending: {AWAITS}"
PENDING = [f"? capital-cities  pending: {AWAITS}", PENDING_AGENT]
NO_PRODUCTION = "create version 2 and judge it against its floors (no version holds production)"
PUSHED = [
    "dataset capital-cities-tutorial: 10 upserted, 0 archived, 0 unchanged",
    "dataset support-faq: 9 upserted, 0 archived, 0 unchanged",
    "created capital-cities version 1",
    "created support-agent version 1",
]
ORIGINAL = "You are a helpful geography assistant."


@dataclass
class Project:
    """A git repository of the example prompts, and the registry the CLI is pointed at."""

    root: Path
    kind: str
    describe: str
    open: Callable[[], Registry]  # another handle on the same registry, for edits made outside promptops
    ui_edit: Callable[[str, str, dict[str, Any]], None]
    cli: Callable[..., Run]

    def lines(self, *args: str) -> tuple[int, list[str], list[str]]:
        """Run the CLI; return exit code, stdout lines and stderr lines."""
        result = self.cli(*args)
        return result.code, result.out.splitlines(), result.err.splitlines()


@pytest.fixture(params=["local", "langfuse"])
def project(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Project]:
    """Yield a fresh repository with the example prompts, pointed at an empty registry of each kind."""
    root = make_project(tmp_path / "repo", examples=True)
    git_init(root)
    monkeypatch.chdir(root)
    for key in ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "LANGFUSE_BASE_URL", "LANGFUSE_HOST"):
        monkeypatch.delenv(key, raising=False)
    if request.param == "local":
        db = root / ".promptops" / "registry.db"
        describe = "local registry at .promptops/registry.db"

        def open_local() -> Registry:
            return LocalRegistry(db)

        def ui_edit(name: str, prompt: str, config: dict[str, Any]) -> None:
            LocalRegistry(db).create_raw_version(name, prompt, config)

        opener = open_local
    else:
        double = request.getfixturevalue("langfuse_double")
        for key, value in double.env.items():
            monkeypatch.setenv(key, value)
        describe = f"Langfuse at {double.base_url} (project keys pk-lf-…{double.public_key[-4:]})"

        def open_langfuse() -> Registry:
            return LangfuseRegistry(double.public_key, double.secret_key, double.base_url)

        def ui_edit(name: str, prompt: str, config: dict[str, Any]) -> None:
            double.store.create_prompt_version(name, prompt, config=config)

        opener = open_langfuse
    args = ("--registry", request.param)
    yield Project(root, request.param, describe, opener, ui_edit, lambda *a: run_cli(capsys, *args, *a))


def edit(project: Project, old: str, new: str) -> None:
    """Change the capital-cities prompt in the working tree."""
    path = project.root / "prompts" / "capital-cities.yaml"
    path.write_text(path.read_text("utf-8").replace(old, new), "utf-8")


def test_a_fresh_repository_has_every_prompt_new(project: Project) -> None:
    assert project.lines("diff") == (2, NEW, [f"registry: {project.describe}", "changes pending: 2 new"])
    assert project.lines("status") == (0, NEW, [f"registry: {project.describe}", "changes pending: 2 new"])
    assert not (project.root / ".promptops" / "registry.db").exists()  # reading never creates the local registry


def test_pushed_prompts_are_pending_until_the_gate_decides(project: Project) -> None:
    assert project.lines("push") == (0, PUSHED, [f"registry: {project.describe}"])
    assert project.lines("diff") == (2, PENDING, [f"registry: {project.describe}", "changes pending: 2 pending"])
    assert project.lines("status") == (0, PENDING, [f"registry: {project.describe}", "changes pending: 2 pending"])
    again = project.lines("push")
    assert again[1] == [
        "dataset capital-cities-tutorial: 0 upserted, 0 archived, 10 unchanged",
        "dataset support-faq: 0 upserted, 0 archived, 9 unchanged",
        "no new versions: the registry holds every prompt's content as it is in git",
    ]


def test_an_edited_prompt_is_changed_with_the_rendered_text_diff_from_production(project: Project) -> None:
    assert project.cli("sync").code == 0
    edit(project, ORIGINAL, "You are a friendly geography assistant.")
    code, out, err = project.lines("diff")
    assert (code, err) == (2, [f"registry: {project.describe}", "changes pending: 1 changed, 1 in-sync"])
    changed = "~ capital-cities  changed: create version 2 and judge it against production (version 1)"
    in_sync = "= support-agent   in-sync: production (version 1) holds this content; nothing to do"
    assert out == [
        changed,
        "--- capital-cities v1 (production)",
        "+++ capital-cities (git)",
        "@@ -1,2 +1,2 @@",
        "-You are a helpful geography assistant.",
        "+You are a friendly geography assistant.",
        " Question: What is the capital of {{country}}?",
        in_sync,
    ]
    assert project.lines("status")[1] == [changed, in_sync]


def test_without_production_there_is_nothing_to_diff_against(project: Project) -> None:
    project.cli("push")
    edit(project, ORIGINAL, "You are a friendly geography assistant.")
    code, out, err = project.lines("diff")
    assert (code, err[-1]) == (2, "changes pending: 1 changed, 1 pending")
    assert out == [f"~ capital-cities  changed: {NO_PRODUCTION}", PENDING_AGENT]


def test_a_config_change_shows_the_config_diff(project: Project) -> None:
    assert project.cli("sync").code == 0
    edit(project, "config:\n  temperature: 0\n", "config:\n  temperature: 0.5\n")
    out = project.lines("diff")[1]
    assert out[1:8] == [
        "--- capital-cities v1 (production)",
        "+++ capital-cities (git)",
        "@@ -1,3 +1,3 @@",
        " {",
        '-  "temperature": 0',
        '+  "temperature": 0.5',
        " }",
    ]


def test_an_edit_in_the_registry_ui_is_noted_and_changed_outside_git_once_it_serves(project: Project) -> None:
    assert project.cli("sync").code == 0
    registry = project.open()
    v1 = registry.get_version("capital-cities", version=1)
    assert isinstance(v1.prompt, str)
    project.ui_edit("capital-cities", v1.prompt.replace(ORIGINAL, "You are a geography bot."), dict(v1.config))
    code, out, _ = project.lines("status")
    assert (code, out[:2]) == (
        0,
        [
            "= capital-cities  in-sync: production (version 1) holds this content; nothing to do",
            "                  note: the newest version is 2, made outside git (e.g. in the Langfuse UI); production "
            "is on version 1; `promptops pull capital-cities --version 2` writes it into the file",
        ],
    )
    registry.set_labels("capital-cities", 2, ["production"])  # the UI edit is put in production by hand
    registry.close()
    code, out, err = project.lines("diff")  # git still has version 1's content, an earlier release
    assert (code, err[-1]) == (2, "changes pending: 1 earlier-release, 1 in-sync")
    assert out[:7] == [
        "^ capital-cities  earlier-release: version 1 was released before (release-1): judge it against production "
        "(version 2) and promote it without a new version if it wins",
        "--- capital-cities v2 (production)",
        "+++ capital-cities (git)",
        "@@ -1,2 +1,2 @@",
        "-You are a geography bot.",
        "+You are a helpful geography assistant.",
        " Question: What is the capital of {{country}}?",
    ]
    edit(project, ORIGINAL, "You are a friendly geography assistant.")
    assert project.lines("status")[1][0] == (
        "! capital-cities  changed-outside-git: production (version 2) was not made from git: create version 3 from "
        "git and judge it against it (or `promptops pull capital-cities --version 2` to bring it into git)"
    )


def test_a_ui_edit_equal_to_git_is_adopted_not_copied(project: Project) -> None:
    project.cli("push")
    registry = project.open()
    v1 = registry.get_version("capital-cities", version=1)
    assert isinstance(v1.prompt, str)
    friendlier = v1.prompt.replace(ORIGINAL, "You are a friendly geography assistant.")
    project.ui_edit("capital-cities", friendlier, {"temperature": 0})  # the same edit, made in the UI first
    edit(project, ORIGINAL, "You are a friendly geography assistant.")
    assert project.lines("status")[1][0] == (
        "? capital-cities  pending: version 2 has this content but was made outside promptops: adopt it and judge "
        "it against its floors (no version holds production)"
    )
    registry.close()


def test_a_registry_prompt_gone_from_git_is_an_orphan(project: Project) -> None:
    project.cli("push")
    project.ui_edit("support/retired-faq", "Answer FAQs.", {})
    code, out, err = project.lines("diff")
    assert (code, err[-1]) == (2, "changes pending: 1 orphan, 2 pending")
    assert out == [
        f"? capital-cities       pending: {AWAITS}",
        f"? support-agent        pending: {AWAITS}",
        "- support/retired-faq  orphan: in the registry but not in git; sync leaves it alone",
    ]


def test_json_rows_describe_every_prompt(project: Project) -> None:
    project.cli("push")
    edit(project, ORIGINAL, "You are a friendly geography assistant.")
    code, out, _ = project.lines("diff", "--json")
    settings = api.load_settings(project.root)
    hashes = {n: api.render(settings, n).rendered.content_hash for n in ("capital-cities", "support-agent")}
    prints = fingerprints(api.valid_project(settings))
    assert code == 2
    assert json.loads("\n".join(out)) == [
        {
            "name": "capital-cities",
            "status": "changed",
            "action": NO_PRODUCTION,
            "pending": True,
            "blocking": False,
            "latest_version": 1,
            "production_version": None,
            "candidate_version": None,
            "content_hash": hashes["capital-cities"],
            "fingerprint": prints["capital-cities"],
            "notes": [],
            "text_diff": "",
            "config_diff": "",
        },
        {
            "name": "support-agent",
            "status": "pending",
            "action": AWAITS,
            "pending": True,
            "blocking": False,
            "latest_version": 1,
            "production_version": None,
            "candidate_version": 1,
            "content_hash": hashes["support-agent"],
            "fingerprint": prints["support-agent"],
            "notes": [],
            "text_diff": "",
            "config_diff": "",
        },
    ]


@pytest.mark.parametrize("project", ["langfuse"], indirect=True)
def test_langfuse_diff_costs_one_listing_plus_one_fetch_per_changed_prompt_and_one_listing_warm(
    project: Project, request: pytest.FixtureRequest
) -> None:
    double = request.getfixturevalue("langfuse_double")
    assert project.cli("sync").code == 0
    edit(project, ORIGINAL, "You are a friendly geography assistant.")

    def requests(*args: str) -> list[tuple[str, str, tuple[str, ...]]]:
        double.log.clear()
        assert project.cli(*args).code == 2
        return sorted((r.method, r.path, tuple(sorted(r.query))) for r in double.requests())

    listing = ("GET", "/api/public/v2/prompts", ("limit", "page"))  # every version's labels
    fetch = ("GET", "/api/public/v2/prompts/capital-cities", ("resolve", "version"))  # production, for the text diff
    # Each prompt has one version, which holds every label: the one listing says where production is.
    assert requests("--no-cache", "diff") == [listing, fetch]
    assert requests("diff") == [listing, fetch]  # --no-cache wrote no cache
    assert requests("diff") == [listing]  # production's text is cached: a version's content never changes
    state = project.root / ".promptops" / "cache"
    assert sorted(p.name.split("-")[0] for p in state.iterdir()) == [
        "config.json", "langfuse", "validate", "validate", "validate"
    ]  # fmt: skip

    # A second version (an edit in the UI, say): which version holds production must be asked, once.
    double.store.create_prompt_version("capital-cities", "Answer briefly.", labels=["staging"])
    probe = ("GET", "/api/public/v2/prompts", ("label", "limit", "name"))
    assert requests("diff") == [probe, listing, fetch]  # fetch: the new version (v2) that no content label names
    double.store.create_prompt_version("support-agent", [{"role": "user", "content": "Hi"}], labels=["staging"])
    # Every prompt has versions and nothing is cached: one listing of production beats a probe per prompt.
    production_listing = ("GET", "/api/public/v2/prompts", ("label", "limit", "page"))
    assert requests("--no-cache", "diff") == [production_listing, listing, fetch, fetch]  # v2, and v1's text


@pytest.mark.parametrize("project", ["langfuse"], indirect=True)  # only Langfuse's state is cached
def test_a_cache_this_machine_did_not_write_is_not_believed(project: Project) -> None:
    assert project.cli("sync").code == 0
    assert project.cli("diff").code == 0
    (cache,) = (project.root / ".promptops" / "cache").glob("langfuse-*.json")
    forged = json.loads(cache.read_text("utf-8"))
    body = json.loads(forged["body"])
    for entry in body["production"].values():
        entry["meta"]["config"] = {}  # claims production holds no provenance at all
    forged["body"] = json.dumps(body)
    cache.write_text(json.dumps(forged), "utf-8")
    run = project.cli("status", "--json")
    assert {row["status"] for row in json.loads(run.out)} == {"in-sync"}  # the forged file was ignored


@pytest.mark.parametrize("project", ["langfuse"], indirect=True)
def test_wrong_langfuse_keys_are_one_line_on_stderr(
    project: Project, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    double = request.getfixturevalue("langfuse_double")
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk-lf-not-the-right-one")
    result = project.cli("diff")
    assert (result.code, result.out) == (1, "")
    registry_line, error = result.err.split("\n", 1)
    assert registry_line.startswith(f"registry: Langfuse at {double.base_url} (project keys pk-lf-")
    assert "not-the-right-one" not in result.err
    assert error == (
        f"error: Langfuse at {double.base_url} rejected the API keys (401) while listing prompts "
        "(page 1): check LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY, and that LANGFUSE_BASE_URL is the host of "
        "their project\n"
    )
