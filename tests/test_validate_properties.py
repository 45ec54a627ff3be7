"""Properties of validate: whatever a prompt or dataset file holds, it returns diagnostics and never crashes.

The file contents are random YAML documents (nested dicts, lists and scalars dumped with yaml.safe_dump), random
text, and random Jinja-ish templates. For each, `api.validate` must return a ValidationResult whose diagnostics
all say where (path), what (code) and why (message), and the CLI must exit 0 or 1 without a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from promptops import api
from tests.helpers import make_project, run_cli

PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["text", "chat", "d", "exact_match", "production", "{{ x }}", "new", "a|b", "sk-"])
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
PROMPT_KEYS = [
    "name", "description", "type", "prompt", "messages", "variables", "constants", "config", "tags", "labels",
    "experiment", "gate",
]  # fmt: skip
prompt_like = st.dictionaries(st.sampled_from(PROMPT_KEYS) | st.text(max_size=8), values, max_size=6)
identifier = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,6}", fullmatch=True)
# Schema-valid skeletons with random leaves reach the name, label, template and experiment checks.
near_valid = st.fixed_dictionaries(
    {"prompt": st.text(max_size=40)},
    optional={
        "name": st.text(max_size=20),
        "labels": st.lists(st.text(max_size=40), max_size=3, unique=True),
        "tags": st.lists(st.text(min_size=1, max_size=10), max_size=3, unique=True),
        "variables": st.dictionaries(identifier, st.just({}), max_size=3),
        "constants": st.dictionaries(identifier, values, max_size=3),
        "experiment": st.just({"skip": "property test"})
        | st.fixed_dictionaries({"dataset": st.sampled_from(["d", "nope"])}, optional={"evaluators": values}),
        "gate": st.dictionaries(st.sampled_from(["primary", "floors", "guardrails"]), values, max_size=2),
    },
)
documents = prompt_like | near_valid | values
JINJA_BITS = ["{", "}", "%", "#", "\n", " ", "x", "y", "if", "for", "end", "(", ")", "|", ".", "'", "-", "_", "*"]
# Lone surrogates are left to test_bad_input's yaml-escaped-lone-surrogate case (a known crash).
templates = st.lists(st.sampled_from(JINJA_BITS) | st.characters(exclude_categories=["Cs"]), max_size=40).map("".join)
DATASET = "items:\n  - {id: one, input: {x: 1}}\n"


def dump(document: Any) -> str:
    """Return a document as the YAML a person might commit."""
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


def assert_validates_without_crashing(capsys: pytest.CaptureFixture[str], root: Path) -> None:
    """Validate through the api and through the CLI and check the contract of both."""
    result = api.validate(api.load_settings(root))
    assert isinstance(result, api.ValidationResult)
    for d in result.diagnostics:
        assert isinstance(d.path, str) and d.path, d
        assert isinstance(d.code, str) and d.code, d
        assert isinstance(d.message, str) and d.message.strip(), d
        assert "\n" not in d.message, d  # one diagnostic, one line: text and github output depend on it
        assert d.severity in ("error", "warning"), d
        assert d.line is None or d.line >= 1, d
    run = run_cli(capsys, "--project", str(root), "validate")
    assert run.code in (0, 1), run.err
    assert "Traceback" not in run.out + run.err
    assert run.code == (1 if result.errors else 0)


def fresh(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    """Return a project holding exactly these files (tmp_path is shared between examples)."""
    root = tmp_path / "repo"
    for old in sorted(root.rglob("*"), reverse=True) if root.exists() else []:
        old.rmdir() if old.is_dir() else old.unlink()
    make_project(root)
    for rel, content in files.items():  # written as they are: write_files would dedent them
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return root


@PROPERTY_SETTINGS
@given(document=documents)
@example(document={"prompt": 42})  # once crashed validate: kept as regression examples
@example(document={"prompt": "", "gate": {"floors": {"\n": None}}})
def test_any_yaml_prompt_file(capsys: pytest.CaptureFixture[str], tmp_path: Path, document: Any) -> None:
    root = fresh(tmp_path, {"prompts/a.yaml": dump(document), "prompts/datasets/d.yaml": DATASET})
    assert_validates_without_crashing(capsys, root)


@PROPERTY_SETTINGS
@given(document=values | st.fixed_dictionaries({"items": st.lists(values, max_size=3)}))
@example(document={"items": [{"id": 1}]})
def test_any_yaml_dataset_file(capsys: pytest.CaptureFixture[str], tmp_path: Path, document: Any) -> None:
    files: dict[str, str | bytes] = {"prompts/a.yaml": "prompt: hi\nexperiment: {dataset: d}\n"}
    files["prompts/datasets/d.yaml"] = dump(document)
    assert_validates_without_crashing(capsys, fresh(tmp_path, files))


@PROPERTY_SETTINGS
@given(content=st.text(max_size=200) | st.binary(max_size=100))
@example(content="[1, 2]")
@example(content="\x1b")
def test_any_text_or_bytes_as_a_prompt_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str | bytes
) -> None:
    assert_validates_without_crashing(capsys, fresh(tmp_path, {"prompts/a.yaml": content}))


@PROPERTY_SETTINGS
@given(template=templates)
def test_any_template_text(capsys: pytest.CaptureFixture[str], tmp_path: Path, template: str) -> None:
    document = {"prompt": template, "variables": {"x": {}}, "experiment": {"skip": "property test"}}
    assert_validates_without_crashing(capsys, fresh(tmp_path, {"prompts/a.yaml": dump(document)}))


@PROPERTY_SETTINGS
@given(system=templates, user=templates)
def test_any_chat_message_templates(capsys: pytest.CaptureFixture[str], tmp_path: Path, system: str, user: str) -> None:
    messages = [{"role": "system", "content": system}, {"placeholder": "history"}, {"role": "user", "content": user}]
    document = {"type": "chat", "messages": messages, "variables": {"x": {}}, "experiment": {"skip": "p"}}
    assert_validates_without_crashing(capsys, fresh(tmp_path, {"prompts/a.yaml": dump(document)}))
