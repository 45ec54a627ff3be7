"""The incremental validation cache changes nothing but the time: after random edits of a generated repository,
validating through the cache gives exactly the diagnostics and renders of validating from scratch."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from promptops import api
from tests.helpers import make_project, write_files

PARTIAL = "prompts/_partials/tone.jinja"
DATASET = "prompts/datasets/d.yaml"


def prompt(n: int, words: str) -> str:
    return (
        f'prompt: |\n  {{% include "_partials/tone.jinja" %}}\n  Assistant {n} says {words} about {{{{ topic }}}}.\n'
        "variables:\n  topic: {description: the topic}\n"
        "experiment: {dataset: d, evaluators: [{type: exact_match}]}\n"
    )


EDITS = st.lists(
    st.one_of(
        st.tuples(st.just("reword"), st.integers(0, 3), st.sampled_from(["hello", "goodbye", "{{ missing }}"])),
        st.tuples(
            st.just("partial"),
            st.just(0),
            st.sampled_from(["Be kind.\n", "Be brief.\n", "{% if %}\n", "{% include '_partials/deeper.jinja' %}\n"]),
        ),
        st.tuples(st.sampled_from(["unpartial", "deeper", "undeeper"]), st.just(0), st.just("")),  # partials come, go
        st.tuples(st.just("dataset"), st.just(0), st.sampled_from(["x", "y"])),
        st.tuples(st.sampled_from(["lacking", "undataset", "dataset-link", "dangle"]), st.just(0), st.just("")),
        st.tuples(st.sampled_from(["rename", "custom", "module", "unmodule"]), st.integers(0, 3), st.just("")),
        st.tuples(st.just("break"), st.integers(0, 3), st.just("")),
        st.tuples(st.just("secret"), st.integers(0, 3), st.just("")),
        st.tuples(st.just("delete"), st.integers(0, 3), st.just("")),
        st.tuples(st.just("touch"), st.integers(0, 3), st.just("")),
    ),
    min_size=1,
    max_size=8,
)


def edit(root: Path, kind: str, n: int, text: str) -> None:
    path = root / f"prompts/p{n}.yaml"
    if kind == "reword":
        path.write_text(prompt(n, text), "utf-8")
    elif kind == "partial":
        (root / PARTIAL).write_text(text, "utf-8")
    elif kind == "unpartial":
        (root / PARTIAL).unlink(missing_ok=True)
    elif kind == "deeper":
        (root / PARTIAL).with_name("deeper.jinja").write_text("Deeper.\n", "utf-8")
    elif kind == "undeeper":
        (root / PARTIAL).with_name("deeper.jinja").unlink(missing_ok=True)
    elif kind == "dataset":
        (root / DATASET).parent.mkdir(parents=True, exist_ok=True)
        (root / DATASET).write_text(f"items:\n  - {{id: a, input: {{topic: {text}}}, expected_output: ok}}\n", "utf-8")
    elif kind == "lacking":  # an item without the variable every prompt requires
        (root / DATASET).parent.mkdir(parents=True, exist_ok=True)
        (root / DATASET).write_text("items:\n  - {id: a, input: {other: 1}, expected_output: ok}\n", "utf-8")
    elif kind == "undataset":
        (root / DATASET).unlink(missing_ok=True)
    elif kind == "dataset-link":  # the dataset through a link: its target can change with nothing here changing
        target = root / "elsewhere.yaml"
        target.write_text("items:\n  - {id: b, input: {topic: t}, expected_output: ok}\n", "utf-8")
        (root / DATASET).unlink(missing_ok=True)
        (root / DATASET).parent.mkdir(parents=True, exist_ok=True)
        (root / DATASET).symlink_to(target)
    elif kind == "dangle":  # the link's target goes: the dataset no longer exists, and no file here changed
        (root / "elsewhere.yaml").unlink(missing_ok=True)
    elif kind == "rename":  # two prompts of one name
        path.write_text(f"name: shared\n{prompt(n, 'hi')}", "utf-8")
    elif kind == "custom":  # an evaluator of the project's own code
        path.write_text(prompt(n, "hi").replace("{type: exact_match}", "{type: 'checks:score'}"), "utf-8")
    elif kind == "module":
        (root / "checks.py").write_text("def score(output, expected):\n    return 1.0\n", "utf-8")
    elif kind == "unmodule":
        (root / "checks.py").unlink(missing_ok=True)
    elif kind == "break":
        path.write_text("prompt: [unclosed\n", "utf-8")
    elif kind == "secret":
        path.write_text(prompt(n, "hi") + "# sk-lf-0123456789abcdef0123456789abcdef\n", "utf-8")
    elif kind == "delete":
        path.unlink(missing_ok=True)
    elif kind == "touch" and path.exists():
        path.write_text(path.read_text("utf-8"), "utf-8")  # same bytes, new mtime


def outcome(root: Path, cache: bool) -> tuple[object, object]:
    project, diagnostics = api.checked(api.load_settings(root, registry="local", cache=cache))
    rendered = {name: (r.prompt, r.content_hash) for name, r in sorted(project.rendered.items())}
    return [d.to_dict() for d in diagnostics], rendered


def answer(root: Path, cache: bool) -> tuple[object, int, int]:
    """validate's own answer, which keeps one per prompt file and need not load unchanged ones."""
    result = api.validate(api.load_settings(root, registry="local", cache=cache))
    return [d.to_dict() for d in result.diagnostics], result.prompts, result.datasets


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=EDITS)
@example(edits=[("custom", 0, ""), ("module", 0, ""), ("unmodule", 0, "")])  # code found or not, outside prompts/
@example(edits=[("dataset-link", 0, ""), ("dangle", 0, "")])
@example(edits=[("rename", 0, ""), ("rename", 2, ""), ("reword", 0, "hello"), ("delete", 2, "")])
@example(edits=[("lacking", 0, ""), ("undataset", 0, ""), ("dataset", 0, "x")])
def test_cached_validation_equals_validation_from_scratch(edits: list[tuple[str, int, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        files = {f"prompts/p{n}.yaml": prompt(n, "hello") for n in range(4)}
        root = make_project(Path(tmp) / "repo", {**files, PARTIAL: "Be kind.\n"})
        edit(root, "dataset", 0, "x")
        assert answer(root, cache=True) == answer(root, cache=False)  # cold
        assert outcome(root, cache=True) == outcome(root, cache=False)
        for kind, n, text in edits:
            edit(root, kind, n, text)
            assert answer(root, cache=True) == answer(root, cache=False), (kind, n, text)
            assert outcome(root, cache=True) == outcome(root, cache=False), (kind, n, text)
            assert outcome(root, cache=True) == outcome(root, cache=False), "warm, nothing changed"
            edit(root, "touch", (n + 1) % 4, "")  # the same bytes: every kept answer is taken
            assert answer(root, cache=True) == answer(root, cache=False), "one file touched"


def test_a_warm_run_parses_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path / "repo", examples=True)
    cold = outcome(root, cache=True)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed although nothing changed")

    monkeypatch.setattr("promptops.project.load_prompt", refuse)
    monkeypatch.setattr("promptops.project.load_dataset", refuse)
    monkeypatch.setattr("promptops.render.check_prompt", refuse)
    assert outcome(root, cache=True) == cold
    write_files(root, {"prompts/_partials/grounding.jinja": "Answer from the context only.\n"})
    with pytest.raises(AssertionError, match="parsed although"):
        outcome(root, cache=True)  # a partial changed: the prompts that include it are checked again


def test_a_corrupt_cache_is_rebuilt(tmp_path: Path) -> None:
    root = make_project(tmp_path / "repo", examples=True)
    first = outcome(root, cache=True)
    for cache in (root / ".promptops" / "cache").glob("validate*.pickle"):
        cache.write_bytes(b"\0" * 32 + b"not a pickle")
    assert outcome(root, cache=True) == first
    assert all(len(cache.read_bytes()) > 100 for cache in (root / ".promptops" / "cache").glob("validate*.pickle"))


def test_a_command_about_one_prompt_keeps_the_others_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path / "repo", examples=True)
    cold = outcome(root, cache=True)
    api.valid_project(api.load_settings(root, registry="local"), only="capital-cities")  # e.g. render one prompt
    monkeypatch.setattr("promptops.render.check_prompt", lambda *a, **k: (_ for _ in ()).throw(AssertionError()))
    assert outcome(root, cache=True) == cold  # support-agent's result was kept, so nothing is checked again


def test_validate_answers_from_the_whole_result_when_no_file_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(tmp_path / "repo", examples=True)
    settings = api.load_settings(root, registry="local")
    first = api.validate(settings)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("loaded although nothing changed")

    monkeypatch.setattr("promptops.api.validating.checked", refuse)
    assert api.validate(settings) == first
    for change in (
        lambda: write_files(root, {"prompts/notes.txt": "a new file counts too\n"}),
        lambda: (root / "prompts/notes.txt").chmod(0o000),
        lambda: os.mkfifo(root / "prompts/pipe.yaml"),
    ):
        change()
        with pytest.raises(AssertionError, match="loaded although"):
            api.validate(settings)


def test_with_the_prompts_folder_at_the_root_no_result_is_cached(tmp_path: Path) -> None:
    # With prompts_dir ".", what may be read depends on git's index (docs/security.md), which no key covers.
    root = make_project(tmp_path / "repo", {"hello.yaml": "prompt: hi\nexperiment: {skip: none}\n"})
    (root / "promptops.yaml").write_text("prompts_dir: .\n", "utf-8")
    api.validate(api.load_settings(root, registry="local"))
    assert not (root / ".promptops" / "cache" / "validate-result.pickle").exists()


def test_an_unchanged_config_is_not_checked_again_and_a_changed_one_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from promptops.errors import ConfigError

    root = make_project(tmp_path / "repo", examples=True)
    api.load_settings(root, registry="local")  # checks the config and remembers the answer

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("checked although nothing changed")

    with monkeypatch.context() as patched:
        patched.setattr("promptops.schema.check", refuse)
        api.load_settings(root, registry="local")
        with pytest.raises(AssertionError, match="checked although"):
            api.load_settings(root, registry="local", cache=False)  # --no-cache checks afresh
    write_files(root, {"promptops.yaml": "prompts_dir: prompts\nregistry: nowhere\n"})
    for _ in range(2):  # an invalid config is reported on every run, from the cache or not
        with pytest.raises(ConfigError, match=r"promptops.yaml: registry: 'nowhere' is not one of"):
            api.load_settings(root, registry="local")
    cache = root / ".promptops" / "cache" / "config.json"
    wrapper = json.loads(cache.read_text("utf-8"))
    body = json.loads(wrapper["body"])
    assert body["problems"] and body["key"]
    wrapper["body"] = json.dumps({**body, "problems": []})  # a PR commits "this config is fine": unsigned
    cache.write_text(json.dumps(wrapper), "utf-8")
    with pytest.raises(ConfigError, match="is not one of"):
        api.load_settings(root, registry="local")


def test_an_unchanged_promptops_yaml_is_not_parsed_again_and_a_changed_or_forged_one_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from promptops.errors import ConfigError

    root = make_project(tmp_path / "repo", examples=True)
    write_files(root, {"promptops.yaml": "prompts_dir: prompts\ndefault_model: mock-llm-v1\n"})
    assert api.load_settings(root, registry="local").config.default_model == "mock-llm-v1"

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed although nothing changed")

    with monkeypatch.context() as patched:
        patched.setattr("promptops.yamlfile.load", refuse)
        assert api.load_settings(root, registry="local").config.default_model == "mock-llm-v1"
        with pytest.raises(AssertionError, match="parsed although"):
            api.load_settings(root, registry="local", cache=False)  # --no-cache reads afresh
    write_files(root, {"promptops.yaml": "prompts_dir: prompts\ndefault_model: gpt-4o-mini\n"})
    assert api.load_settings(root, registry="local").config.default_model == "gpt-4o-mini"
    cache = root / ".promptops" / "cache" / "config.json"
    wrapper = json.loads(cache.read_text("utf-8"))
    body = json.loads(wrapper["body"])
    assert body["yaml"] == {"prompts_dir": "prompts", "default_model": "gpt-4o-mini"} and body["problems"] == []
    wrapper["body"] = json.dumps({**body, "yaml": {**body["yaml"], "prompts_dir": "elsewhere"}})  # unsigned
    cache.write_text(json.dumps(wrapper), "utf-8")
    assert api.load_settings(root, registry="local").config.prompts_dir == "prompts"
    write_files(root, {"promptops.yaml": "prompts_dir: prompts\nwhen: 2026-12-02\n"})  # a date: JSON would change it
    with pytest.raises(ConfigError, match="when"):
        api.load_settings(root, registry="local")
    assert json.loads(json.loads(cache.read_text("utf-8"))["body"])["yaml"]["default_model"] == "gpt-4o-mini"


def test_a_warm_experiment_imports_no_schema_checker_git_library_langfuse_jinja_or_yaml(tmp_path: Path) -> None:
    # What a warm local run does not need, it does not import: each costs more than a 200-item run's bookkeeping.
    import subprocess
    import sys

    from tests.helpers import git_init

    root = make_project(tmp_path / "repo", examples=True)
    git_init(root)
    code = (
        "import sys; from promptops.cli import main\n"
        "sys.argv = ['promptops', '--registry', 'local', 'experiment', 'capital-cities']\n"
        "try:\n    main()\nexcept SystemExit as stop:\n    assert not stop.code, stop.code\n"
        "loaded = set(sys.modules) | {m.split('.')[0] for m in sys.modules}\n"
        "print(sorted(loaded & {'jsonschema', 'jsonschema_rs', 'git', 'langfuse', 'jinja2', 'yaml', "
        "'promptops.runview', 'promptops.promote'}))\n"
    )
    runs = [subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True) for _ in "12"]
    assert [run.returncode for run in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    # The first run validates the files: jsonschema-rs accepts them, so jsonschema (for messages) is not needed.
    assert runs[0].stdout.splitlines()[-1] == "['jinja2', 'jsonschema_rs', 'yaml']"
    assert runs[1].stdout.splitlines()[-1] == "[]"


def test_an_old_file_whose_stat_is_unchanged_is_not_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from promptops import project_result, validation_cache

    root = make_project(tmp_path / "repo", examples=True)
    settings = api.load_settings(root, registry="local")
    monkeypatch.setattr(project_result, "RACY_NS", 0)  # as if every file were older than the racy window
    first = api.validate(settings)
    assert first.errors == 0
    with monkeypatch.context() as patched:
        for module in (project_result, validation_cache):
            patched.setattr(module, "regular_bytes", lambda *a, **k: (_ for _ in ()).throw(AssertionError()))
        assert api.validate(settings) == first  # every file's stat as recorded: nothing was read
    # The same size and the old mtime put back: the change time still moved, so the file is read and seen.
    path = root / "prompts" / "capital-cities.yaml"
    before, text = path.stat(), path.read_text("utf-8")
    path.write_text(text.replace("type: text", "type: tex_"), "utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size and path.stat().st_mtime_ns == before.st_mtime_ns
    assert api.validate(settings).errors == 1


def test_a_file_written_just_before_it_was_hashed_is_hashed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # git's "racy" rule: within the clock's granularity a file can change again without its stat changing.
    from promptops import project_result

    root = make_project(tmp_path / "repo", examples=True)
    settings = api.load_settings(root, registry="local")
    files = [p for p in (root / "prompts").rglob("*") if p.is_file()]
    for path in files:
        os.utime(path)  # every file changed just now, however slow the machine was until here
    api.validate(settings)
    reads: list[Path] = []
    real = project_result.regular_bytes
    monkeypatch.setattr(project_result, "regular_bytes", lambda path, *a: reads.append(path) or real(path, *a))
    api.validate(settings)
    assert sorted(reads) == sorted(files)


def test_a_command_that_loads_everything_takes_the_last_loaded_project_when_nothing_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    root = make_project(tmp_path / "repo", examples=True)
    first = api.valid_project(api.load_settings(root, registry="local"))
    with monkeypatch.context() as patched:
        patched.setattr("promptops.api.validating.load", lambda *a, **k: (_ for _ in ()).throw(AssertionError()))
        again = api.valid_project(api.load_settings(root, registry="local"))  # diff, sync: nothing is loaded
    assert again == first and again.rendered == first.rendered
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)  # .promptops/ included: its project must not answer for the copy
    copied = api.valid_project(api.load_settings(copy, registry="local"))
    assert copied.root == copy and copied.prompts == first.prompts
    write_files(root, {"prompts/_partials/grounding.jinja": "Answer from the context only.\n"})
    changed = api.valid_project(api.load_settings(root, registry="local"))
    assert changed.rendered["support-agent"] != first.rendered["support-agent"]
