"""Rendering: stored text compiled by the real langfuse SDK equals a full Jinja render with the same values."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptops.errors import RenderError
from promptops.project import load_project
from promptops.render import render
from tests.helpers import make_project, sdk_compile

EXAMPLE_VALUES = {
    "country": "France",
    "company": "Acme",
    "tone": "polite",
    "question": "How many days do I have to ask for a refund?",
    "context": "Refunds are available within 30 days of purchase.",
}


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory):
    root = make_project(tmp_path_factory.mktemp("examples"), examples=True)
    project = load_project(root)
    assert [p.name for p in project.prompts] == ["capital-cities", "support-agent"]
    return project


def _messages_only(prompt: object) -> object:
    if isinstance(prompt, str):
        return prompt
    return [dict(m) for m in prompt if m.get("type") != "placeholder"]  # type: ignore[attr-defined]


def _equivalent(project, name: str, values: dict[str, str]) -> tuple[object, object]:
    spec = project.prompt(name)
    stored = render(spec, project.prompts_root, project.root)
    full = render(spec, project.prompts_root, project.root, values=values)
    compiled = sdk_compile(stored, values)
    return _messages_only(compiled), _messages_only(full.prompt)


@pytest.mark.parametrize("name", ["capital-cities", "support-agent"])
def test_sdk_compile_of_stored_text_equals_full_jinja_render(examples, name: str) -> None:
    compiled, full = _equivalent(examples, name, EXAMPLE_VALUES)
    assert compiled == full


@settings(max_examples=60, deadline=None)
@given(values=st.fixed_dictionaries({k: st.text(max_size=40) for k in EXAMPLE_VALUES}))
def test_equivalence_holds_for_arbitrary_values(examples, values: dict[str, str]) -> None:
    for name in ("capital-cities", "support-agent"):
        compiled, full = _equivalent(examples, name, values)
        assert compiled == full


def test_runtime_variables_become_langfuse_placeholders(examples) -> None:
    spec = examples.prompt("capital-cities")
    stored = render(spec, examples.prompts_root, examples.root)
    assert stored.prompt == "You are a helpful geography assistant.\nQuestion: What is the capital of {{country}}?"
    assert stored.content_hash.startswith("sha256:")


def test_chat_prompt_keeps_message_placeholders_and_includes_partials(examples) -> None:
    stored = render(examples.prompt("support-agent"), examples.prompts_root, examples.root)
    assert stored.prompt[1] == {"type": "placeholder", "name": "history"}
    system = stored.prompt[0]["content"]
    assert system.startswith(
        "You are a {{tone}} support agent for {{company}}.\nAnswer using only the provided context."
    )
    assert "- Never promise anything the articles do not say.\n" in system


def test_hash_changes_with_text_and_config_only(tmp_path: Path) -> None:
    def stored(prompt: str, temperature: float, tags: str) -> str:
        root = make_project(
            tmp_path / f"{len(prompt)}-{temperature}-{tags}",
            {
                "prompts/p.yaml": f"prompt: {prompt}\nconfig: {{temperature: {temperature}}}\ntags: [{tags}]\n"
                "experiment: {skip: test}\n",
            },
        )
        project = load_project(root)
        return render(project.prompts[0], project.prompts_root, project.root).content_hash

    base = stored("Hello", 0, "a")
    assert stored("Hello", 0, "b") == base
    assert stored("Hello!", 0, "a") != base
    assert stored("Hello", 0.5, "a") != base


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ ().__class__.__base__.__subclasses__() }}",
        "{{ 'a' * 100000000 }}",
        "{{ 10 ** 1000000 }}",
    ],
)
def test_sandbox_refuses_injection_payloads_at_render(tmp_path: Path, template: str) -> None:
    root = make_project(tmp_path, {"prompts/p.yaml": f'prompt: "{template}"\nexperiment: {{skip: test}}\n'})
    project = load_project(root)
    with pytest.raises(RenderError):
        render(project.prompts[0], project.prompts_root, project.root)
