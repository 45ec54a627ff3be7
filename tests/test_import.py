"""`promptops import` and `promptops pull` on a registry filled by someone else (the langfuse SDK, or the local
registry's raw writes as the UI would): files that render back byte for byte, diff in sync, a sync that creates
nothing, and UI edits pulled back into the file without losing what the file had.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptops.compile import compile_prompt
from promptops.importing import template_for, variables_in
from promptops.model import RenderedPrompt
from promptops.registry.local import LocalRegistry
from tests.helpers import Run, git, git_init, make_project, run_cli
from tests.langfuse_double.server import LangfuseDouble

SHARED = "You answer politely."
PROMPTS: dict[str, dict[str, Any]] = {
    "shared-preamble": {"prompt": SHARED, "labels": ["production"]},
    "greeting": {"prompt": "Hello {{name}}, welcome to {{company}}.\n", "labels": ["production", "staging"]},
    "support/faq bot": {
        "type": "chat",
        "prompt": [
            {"role": "system", "content": "You are a {{tone}} agent.\nKeep it short.  \n"},
            {"type": "placeholder", "name": "history"},
            {"role": "user", "content": "{{question}}"},
        ],
        "labels": ["production"],
        "config": {"model": "gpt-4o-mini", "temperature": 0.2, "response_format": {"type": "json_object"}},
        "tags": ["support", "faq"],
    },
    "unicode": {"prompt": "Grüß dich, {{name}}! 你好 🎉 — «quotes» and ‘marks’", "labels": ["production"]},
    "json-example": {
        "prompt": 'Reply as JSON: {"answer": "...", "items": [{"id": 1}]}.\nQuestion: {{q}}\n\n',
        "labels": ["production"],
    },
    "jinja-looking": {
        "prompt": "Use {% raw %} and {# not a comment #}, {%- x -%}, }} and %} and a lone { at the end {",
        "labels": ["production"],
    },
    "indented": {"prompt": "  two spaces first\n\ttab next\nno newline at the end", "labels": ["production"]},
    "referencing": {
        "prompt": "@@@langfusePrompt:name=shared-preamble|label=production@@@ Then answer {{x}}.",
        "labels": ["production"],
    },
}


class Registry:
    """A registry of one kind, filled the way another tool would fill it, and the CLI pointed at it."""

    def __init__(self, kind: str, root: Path, capsys: pytest.CaptureFixture[str], double: LangfuseDouble | None):
        self.kind, self.root, self.capsys, self.double = kind, root, capsys, double
        self.local = LocalRegistry(root / ".promptops" / "registry.db") if kind == "local" else None

    def create(self, name: str, prompt: Any, *, labels: list[str], config: Any = None, tags: Any = None) -> None:
        if self.local is not None:
            self.local.create_raw_version(name, prompt, config or {}, labels=labels, tags=tags)
        else:
            assert self.double is not None
            kind = "chat" if isinstance(prompt, list) else "text"
            lf = self.double.client()
            lf.create_prompt(name=name, prompt=prompt, labels=labels, config=config, tags=tags, type=kind)

    def stored(self, name: str, label: str = "production") -> Any:
        from promptops import api

        with api.opened_registry(api.load_settings(self.root, registry=self.kind)) as reg:
            return reg.get_version(name, label=label)

    def cli(self, *args: str) -> Run:
        run = run_cli(self.capsys, "--project", str(self.root), "--registry", self.kind, *args)
        assert "Traceback" not in run.out + run.err
        return run

    def versions(self) -> dict[str, int]:
        from promptops import api

        with api.opened_registry(api.load_settings(self.root, registry=self.kind)) as reg:
            return {s.name: s.latest_version for s in reg.list_prompts()}


@pytest.fixture(params=["local", "langfuse"])
def registry(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Registry]:
    """Yield an empty git repository (no prompts yet) and a registry of each kind filled from outside promptops."""
    root = make_project(tmp_path / "repo", {"prompts/.keep": ""})
    git_init(root)
    for key in ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "LANGFUSE_BASE_URL", "LANGFUSE_HOST"):
        monkeypatch.delenv(key, raising=False)
    double = None
    if request.param == "langfuse":
        double = request.getfixturevalue("langfuse_double")
        for key, value in double.env.items():
            monkeypatch.setenv(key, value)
    reg = Registry(request.param, root, capsys, double)
    for name, spec in PROMPTS.items():
        reg.create(name, spec["prompt"], labels=spec["labels"], config=spec.get("config"), tags=spec.get("tags"))
    reg.create("versions", "first {{a}}", labels=[])
    reg.create("versions", "second {{a}}", labels=["production"])
    reg.create("versions", "third {{a}}, a draft", labels=[])
    yield reg
    if reg.local is not None:
        reg.local.close()


def imported(reg: Registry) -> dict[str, Any]:
    run = reg.cli("import", "--json")
    assert run.code == 0, run.err + run.out
    return {f["name"]: f for f in json.loads(run.out)["files"]}


def test_an_import_renders_back_byte_for_byte_and_is_in_sync(registry: Registry) -> None:
    files = imported(registry)
    assert sorted(files) == sorted([*PROMPTS, "versions"])
    assert {f["outcome"] for f in files.values()} == {"written"}
    assert files["support/faq bot"]["path"] == "prompts/support/faq bot.yaml"
    assert files["versions"]["version"] == 2  # production, not the newest
    assert registry.cli("validate").code == 0
    for name in [*PROMPTS, "versions"]:
        stored = registry.stored(name)
        run = registry.cli("render", name, "--json")
        assert run.code == 0, run.err
        rendered = json.loads(run.out)
        as_stored = stored.prompt if isinstance(stored.prompt, str) else [dict(m) for m in stored.prompt]
        assert rendered["prompt"] == as_stored, name
    before = registry.versions()
    run = registry.cli("diff")
    assert run.code == 0, run.out + run.err
    assert all(" in-sync: " in line for line in run.out.splitlines() if not line.lstrip().startswith("note:"))
    git(registry.root, "add", "-A")
    git(registry.root, "commit", "-qm", "Import the prompts")
    run = registry.cli("sync", "--json")
    assert run.code == 0, run.err
    assert {row["outcome"] for row in json.loads(run.out)["prompts"]} == {"unchanged"}
    assert registry.versions() == before  # no version made


def test_the_imported_file_declares_variables_and_keeps_config_tags_labels(registry: Registry) -> None:
    imported(registry)
    import yaml

    doc = yaml.safe_load((registry.root / "prompts/support/faq bot.yaml").read_text("utf-8"))
    assert doc["type"] == "chat"
    assert doc["variables"] == {
        "tone": {"description": "TODO: describe this variable"},
        "question": {"description": "TODO: describe this variable"},
    }
    assert doc["messages"][1] == {"placeholder": "history"}
    assert doc["config"] == PROMPTS["support/faq bot"]["config"]
    assert doc["tags"] == ["support", "faq"]
    greeting = yaml.safe_load((registry.root / "prompts/greeting.yaml").read_text("utf-8"))
    assert greeting["labels"] == ["staging"]
    assert greeting["experiment"]["skip"].startswith("imported without an experiment")
    referencing = (registry.root / "prompts/referencing.yaml").read_text("utf-8")
    assert "@@@langfusePrompt:name=shared-preamble|label=production@@@" in referencing  # kept a reference


def test_import_never_overwrites_without_force_and_a_dry_run_writes_nothing(registry: Registry) -> None:
    dry = registry.cli("import", "greeting", "--dry-run")
    assert dry.code == 0 and dry.out.startswith("would-write prompts/greeting.yaml  prompt greeting version 1")
    assert not (registry.root / "prompts/greeting.yaml").exists()
    assert registry.cli("import", "greeting").code == 0
    (registry.root / "prompts/greeting.yaml").write_text("# mine\nprompt: hi\nexperiment: {skip: mine}\n", "utf-8")
    again = registry.cli("import", "greeting")
    assert again.code == 1
    assert again.out.splitlines()[0] == (
        "exists      prompts/greeting.yaml  prompt greeting version 1 (exists already; --force overwrites it)"
    )
    assert (registry.root / "prompts/greeting.yaml").read_text("utf-8").startswith("# mine")
    assert registry.cli("import", "greeting", "--force").code == 0
    assert "Hello {{ name }}" in (registry.root / "prompts/greeting.yaml").read_text("utf-8")
    assert registry.cli("import", "no-such").err.splitlines()[-1] == (
        f"error: not in the {_describe(registry)}: 'no-such'"
    )


def _describe(registry: Registry) -> str:
    if registry.double is None:
        return "local registry at .promptops/registry.db"
    return f"Langfuse at {registry.double.base_url} (project keys pk-lf-…{registry.double.public_key[-4:]})"


def test_datasets_come_along_and_a_prompt_named_like_one_gets_an_experiment(registry: Registry) -> None:
    from promptops.model import DatasetItem, DatasetSpec
    from promptops.registry.local import LocalRegistry as Local

    items = (DatasetItem("fr", {"name": "Ada", "company": "Acme"}, "Hello Ada, welcome to Acme."),)
    spec = DatasetSpec("greeting", "prompts/datasets/greeting.yaml", "greetings", items, (), {"owner": "ops"})
    if registry.local is not None:
        registry.local.sync_dataset(spec)
    else:
        from promptops.registry.langfuse import LangfuseRegistry

        assert registry.double is not None
        d = registry.double
        LangfuseRegistry(d.public_key, d.secret_key, d.base_url).sync_dataset(spec)
    del Local
    run = registry.cli("import", "greeting", "--datasets")
    assert run.code == 0, run.out + run.err
    import yaml

    dataset = yaml.safe_load((registry.root / "prompts/datasets/greeting.yaml").read_text("utf-8"))
    assert dataset["items"] == [
        {"id": "fr", "input": {"name": "Ada", "company": "Acme"}, "expected_output": "Hello Ada, welcome to Acme."}
    ]
    assert dataset["metadata"] == {"owner": "ops"}
    prompt = yaml.safe_load((registry.root / "prompts/greeting.yaml").read_text("utf-8"))
    assert prompt["experiment"] == {"dataset": "greeting", "evaluators": [{"type": "exact_match"}]}
    assert registry.cli("validate").code == 0
    assert registry.cli("experiment", "greeting").code == 0


def test_a_text_promptops_would_not_store_is_reported_not_written(registry: Registry) -> None:
    registry.create("spaced", "Hi {{ name }}", labels=["production"])
    run = registry.cli("import", "spaced")
    assert run.code == 1
    assert run.out.splitlines()[0] == (
        "failed      prompts/spaced.yaml  prompt spaced version 1 (prompts/spaced.yaml:4:1: the rendered text "
        "contains '{{ name }}', which Langfuse would treat as a variable at run time: remove the braces or declare "
        "the variable)"
    )
    assert not (registry.root / "prompts/spaced.yaml").exists()


# -- pull -------------------------------------------------------------------------------------------------------


def ui_edit(registry: Registry, name: str, prompt: Any, config: Any = None) -> None:
    """A person edits the prompt in the UI: a new version, not made by promptops."""
    registry.create(name, prompt, labels=[], config=config)


def test_pull_brings_a_ui_edit_into_the_file_and_keeps_the_rest(registry: Registry) -> None:
    make_project(
        registry.root,
        {
            "prompts/greeting.yaml": """\
            # our greeting
            description: Greets a customer.
            prompt: |
              {% for line in intro %}
              {{ line }}
              {% endfor %}
              Hello {{ name }}, welcome to {{ company }}.
              Have a nice day.
            constants:
              intro: [Hi there.]
            variables:
              name: {description: the customer}
              company: {description: our company}
            experiment: {skip: none yet}
            """
        },
    )
    git(registry.root, "add", "-A")
    git(registry.root, "commit", "-qm", "Our greeting")
    assert registry.cli("sync").code == 0
    ui_edit(registry, "greeting", "Hi there.\nHello {{name}}, welcome to {{company}}!\nHave a nice day.\nBye.\n")
    run = registry.cli("pull", "greeting")
    assert (run.code, run.out.splitlines()[0]) == (0, "greeting: wrote version 3 into prompts/greeting.yaml")
    text = (registry.root / "prompts/greeting.yaml").read_text("utf-8")
    assert "{% for line in intro %}" in text and "# our greeting" in text and "the customer" in text
    assert '  Hello {{ name }}, welcome to {{ company }}!\n  Have a nice day.\n  Bye.{{ "\\n" }}\n' in text
    git(registry.root, "commit", "-qam", "Pull the UI edit")
    assert registry.cli("diff").code == 2  # the UI version awaits the gate: adopted, not copied
    assert "adopt it and judge it" in registry.cli("status").out


def test_pull_refuses_an_edit_of_text_an_include_makes(registry: Registry) -> None:
    make_project(
        registry.root,
        {
            "prompts/_partials/rules.jinja": "Be kind.\n",
            "prompts/agent.yaml": """\
            prompt: |
              {% include "_partials/rules.jinja" %}
              Answer {{ q }}.
            variables: {q: {description: the question}}
            experiment: {skip: none yet}
            """,
        },
    )
    git(registry.root, "add", "-A")
    git(registry.root, "commit", "-qm", "Agent")
    assert registry.cli("sync").code == 0
    ui_edit(registry, "agent", "Be very kind.\nAnswer {{q}}.")
    before = (registry.root / "prompts/agent.yaml").read_text("utf-8")
    run = registry.cli("pull", "agent")
    assert run.code == 1
    assert run.err.splitlines()[-1] == (
        "error: the edit changes line 1 of the rendered prompt, which the template does not write as plain text (an "
        "include, a loop, a macro or a constant makes it): edit the template by hand"
    )
    assert (registry.root / "prompts/agent.yaml").read_text("utf-8") == before


# -- the escaping, over generated texts ----------------------------------------------------------------------------

TEXT = st.text(alphabet=st.sampled_from(list("ab {}%#\n\t-|:'\"@x_é")), max_size=60)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXT, with_var=st.booleans())
def test_any_stored_text_imports_to_a_template_that_renders_it_back(text: str, with_var: bool, tmp_path: Path) -> None:
    import yaml

    from promptops.model import ProjectConfig
    from promptops.project import load_prompt
    from promptops.render import render

    stored = text + ("{{who}}" if with_var else "")
    variables = variables_in(stored)
    template = template_for(stored, variables)
    doc = {"prompt": template, "experiment": {"skip": "generated"}}
    if variables:
        doc["variables"] = {v: {"description": "d"} for v in variables}
    root = tmp_path / "p"
    (root / "prompts").mkdir(parents=True, exist_ok=True)
    (root / "prompts" / "g.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), "utf-8")
    spec, problems = load_prompt(root / "prompts" / "g.yaml", root, ProjectConfig())
    assert spec is not None, problems
    rendered = render(spec, root / "prompts", root)
    assert rendered.prompt == stored
    values = {v: "X" for v in variables}
    if values:
        compiled = compile_prompt(RenderedPrompt("g", "text", stored, {}, (), (), "", ""), values)
        assert compiled == compile_prompt(rendered, values)
