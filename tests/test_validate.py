"""`promptops validate`: the exact diagnostic of every check, the three output formats, PATH filters, no writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT, Run, make_project, run_cli

SKIP = "experiment: {skip: no dataset yet}\n"
DATASET = "items:\n  - id: one\n    input: {q: x}\n"

Found = tuple[str, int | None, int | None, str, str]  # path, line, col, severity, code


def validate(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> Run:
    """Run `promptops --project ROOT validate ARGS`, asserting no traceback leaks."""
    run = run_cli(capsys, "--project", str(root), "validate", *args)
    assert "Traceback" not in run.out + run.err
    return run


def diagnostics(capsys: pytest.CaptureFixture[str], root: Path, *paths: str) -> tuple[int, list[Found], list[str]]:
    """Validate with `--format json`; return the exit code, where each diagnostic is, and the messages."""
    run = validate(capsys, root, "--format", "json", *paths)
    assert run.code in (0, 1), run.err
    items = json.loads(run.out)
    found = [(d["path"], d["line"], d["col"], d["severity"], d["code"]) for d in items]
    return run.code, found, [d["message"] for d in items]


def project(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    """Create a project with the given files."""
    return make_project(tmp_path / "repo", files)


# --- the example repository ------------------------------------------------------------------------------------


def test_example_prompts_validate_clean(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = make_project(tmp_path / "repo", examples=True)
    run = validate(capsys, root)
    assert (run.code, run.out) == (0, "")
    assert run.err == "ok: 0 error(s), 0 warning(s) in 2 prompt(s) and 2 dataset(s)\n"


def test_checkout_itself_validates_clean(capsys: pytest.CaptureFixture[str]) -> None:
    run = validate(capsys, REPO_ROOT)
    assert (run.code, run.out) == (0, "")
    assert run.err.startswith("ok: 0 error(s), 0 warning(s) in ")


# --- output formats ----------------------------------------------------------------------------------------------

BROKEN: dict[str, str | bytes] = {
    "prompts/a.yaml": "prompt: |\n  Hi {{ who }}.\n  {{ nope }}\nvariables:\n  who: {}\n  spare: {}\n" + SKIP,
    "prompts/b.yaml": "prompt: hi\nlabels: ['50%']\n" + SKIP,
    "prompts/sub/c,d.yaml": "prompt: '{% if who %}x{% endif %}'\nvariables:\n  who: {}\n" + SKIP,
}
UNDECLARED = "'nope' is not defined: declare it under `variables:` (runtime) or `constants:` (build time)"
UNUSED = "runtime variable 'spare' is declared but never used: remove it or use {{ spare }}"
PERCENT_LABEL = "label '50%' must be lowercase letters, digits, '_', '-' or '.'"
IF_WHO = (
    "runtime variable 'who' is used in an {% if %} condition, but its value only exists at run time (Langfuse "
    "substitutes {{who}} after the template is rendered): print it as {{ who }}, or make it a constant"
)


def test_text_format_lists_every_problem_sorted(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run = validate(capsys, project(tmp_path, BROKEN))
    assert run.code == 1
    assert run.out.splitlines() == [
        f"prompts/a.yaml:3: error[undeclared-variable]: {UNDECLARED}",
        f"prompts/a.yaml:6:3: warning[unused-variable]: {UNUSED}",
        f"prompts/b.yaml:2:10: error[invalid-label]: {PERCENT_LABEL}",
        f"prompts/sub/c,d.yaml:1: error[runtime-variable-in-logic]: {IF_WHO}",
    ]
    assert run.err == "3 error(s), 1 warning(s) in 3 prompt(s) and 0 dataset(s)\n"


def test_json_format_is_the_exact_list(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run = validate(capsys, project(tmp_path, BROKEN), "--format", "json")
    assert run.code == 1
    assert json.loads(run.out) == [
        {"path": "prompts/a.yaml", "line": 3, "col": None, "code": "undeclared-variable", "severity": "error",
         "message": UNDECLARED},
        {"path": "prompts/a.yaml", "line": 6, "col": 3, "code": "unused-variable", "severity": "warning",
         "message": UNUSED},
        {"path": "prompts/b.yaml", "line": 2, "col": 10, "code": "invalid-label", "severity": "error",
         "message": PERCENT_LABEL},
        {"path": "prompts/sub/c,d.yaml", "line": 1, "col": None, "code": "runtime-variable-in-logic",
         "severity": "error", "message": IF_WHO},
    ]  # fmt: skip
    assert run.err == "3 error(s), 1 warning(s) in 3 prompt(s) and 0 dataset(s)\n"


def test_github_format_is_workflow_annotations(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run = validate(capsys, project(tmp_path, BROKEN), "--format", "github")
    assert run.code == 1
    assert run.out.splitlines() == [
        f"::error file=prompts/a.yaml,line=3,title=promptops undeclared-variable::{UNDECLARED}",
        f"::warning file=prompts/a.yaml,line=6,col=3,title=promptops unused-variable::{UNUSED}",
        # '%' in data and ',' in a property are escaped as GitHub's workflow commands require
        "::error file=prompts/b.yaml,line=2,col=10,title=promptops invalid-label::"
        "label '50%25' must be lowercase letters, digits, '_', '-' or '.'",
        "::error file=prompts/sub/c%2Cd.yaml,line=1,title=promptops runtime-variable-in-logic::"
        + IF_WHO.replace("%", "%25"),
    ]


# --- PATH arguments ---------------------------------------------------------------------------------------------


def test_path_arguments_filter_the_report(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path, BROKEN)
    absolute = validate(capsys, root, str(root / "prompts" / "b.yaml"))
    assert (absolute.code, absolute.out.splitlines()) == (
        1,
        [f"prompts/b.yaml:2:10: error[invalid-label]: {PERCENT_LABEL}"],
    )
    assert absolute.err == "1 error(s), 0 warning(s) in 3 prompt(s) and 0 dataset(s)\n"

    monkeypatch.chdir(tmp_path)  # outside the project: a relative PATH is taken as relative to the project
    assert validate(capsys, root, "prompts/b.yaml").out == absolute.out

    monkeypatch.chdir(root / "prompts")
    folder = validate(capsys, root, "sub")
    assert (folder.code, folder.out.splitlines()) == (
        1,
        [f"prompts/sub/c,d.yaml:1: error[runtime-variable-in-logic]: {IF_WHO}"],
    )
    two = validate(capsys, root, "a.yaml", "b.yaml")
    assert [line.split(": ")[0] for line in two.out.splitlines()] == [
        "prompts/a.yaml:3",
        "prompts/a.yaml:6:3",
        "prompts/b.yaml:2:10",
    ]


def test_path_filter_keeps_the_exit_code_of_what_is_shown(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    warn = "prompt: hi\nvariables:\n  who: {}\n" + SKIP
    root = project(tmp_path, {"prompts/bad.yaml": "prompt: '{{ nope }}'\n" + SKIP, "prompts/warn.yaml": warn})
    only_warning = validate(capsys, root, str(root / "prompts" / "warn.yaml"))
    assert only_warning.code == 0
    assert [line.split(": ")[0] for line in only_warning.out.splitlines()] == ["prompts/warn.yaml:3:3"]
    assert only_warning.err == "0 error(s), 1 warning(s) in 2 prompt(s) and 0 dataset(s)\n"
    (root / "prompts" / "datasets").mkdir()
    nothing = validate(capsys, root, str(root / "prompts" / "datasets"))
    assert (nothing.code, nothing.out) == (0, "")
    assert nothing.err == "ok: 0 error(s), 0 warning(s) in 2 prompt(s) and 0 dataset(s)\n"


def test_a_path_that_does_not_exist_is_an_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = make_project(tmp_path / "repo", examples=True)
    run = validate(capsys, root, str(root / "prompts" / "helo.yaml"), str(root / "prompts" / "capital-cities.yaml"))
    assert (run.code, run.out, run.err) == (
        1,
        "prompts/helo.yaml: error[no-such-file]: no such file or folder: nothing was validated here\n",
        "1 error(s), 0 warning(s) in 2 prompt(s) and 2 dataset(s)\n",
    )


# --- YAML and schema -------------------------------------------------------------------------------------------


def test_yaml_syntax_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = project(tmp_path, {"prompts/a.yaml": SKIP + "prompt: hi\ndescription: Answer: yes\n"})
    assert diagnostics(capsys, root) == (
        1,
        [("prompts/a.yaml", 3, 20, "error", "yaml-syntax")],
        ["YAML syntax error: mapping values are not allowed in this context"],
    )


def test_schema_wrong_type_at_the_key(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = project(tmp_path, {"prompts/a.yaml": "prompt: hi\n" + SKIP + "tags: 3\n"})
    assert diagnostics(capsys, root) == (
        1,
        [("prompts/a.yaml", 3, 1, "error", "schema")],
        ["tags: 3 is not of type 'array'"],
    )


def test_schema_unknown_key_at_the_key(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = project(tmp_path, {"prompts/a.yaml": "prompt: '{{ x }}'\nvariables:\n  x:\n    kind: string\n" + SKIP})
    code, found, messages = diagnostics(capsys, root)
    assert (code, found) == (1, [("prompts/a.yaml", 4, 5, "error", "schema")])
    assert messages[0].startswith("variables.x: unknown key 'kind'; allowed keys are description, enum, required, type")


def test_schema_bad_enum_at_the_key(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = project(tmp_path, {"prompts/a.yaml": "prompt: hi\n" + SKIP + "type: video\n"})
    assert diagnostics(capsys, root) == (
        1,
        [("prompts/a.yaml", 3, 1, "error", "schema")],
        ["type: 'video' is not one of ['text', 'chat']"],
    )


# --- Jinja -------------------------------------------------------------------------------------------------------


def test_jinja_syntax_error_at_the_template_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = project(tmp_path, {"prompts/a.yaml": "# header\nprompt: |\n  one\n  two {{ x\n  three\n" + SKIP})
    code, found, messages = diagnostics(capsys, root)
    assert (code, found) == (1, [("prompts/a.yaml", 5, None, "error", "jinja-syntax")])
    assert messages == ["Jinja syntax error: expected token 'end of print statement', got 'three'"]


def test_jinja_syntax_error_in_sibling_template(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = project(tmp_path, {"prompts/a.yaml": SKIP, "prompts/a.jinja": "one\ntwo\n{% frobnicate %}\nfour\n"})
    assert diagnostics(capsys, root) == (
        1,
        [("prompts/a.jinja", 3, None, "error", "jinja-syntax")],
        ["Jinja syntax error: Encountered unknown tag 'frobnicate'."],
    )


def test_jinja_syntax_error_in_chat_message(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    chat = (
        "type: chat\nmessages:\n"
        "  - role: system\n    content: hi\n"
        "  - role: user\n    content: |\n      one\n      {% for %}\n"
    )
    root = project(tmp_path, {"prompts/a.yaml": chat + SKIP})
    assert diagnostics(capsys, root) == (
        1,
        [("prompts/a.yaml", 8, None, "error", "jinja-syntax")],
        ["Jinja syntax error: Expected an expression, got 'end of statement block'"],
    )


def test_undeclared_name(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = project(tmp_path, {"prompts/a.yaml": "prompt: |\n  hello\n  {{ customer }}\n" + SKIP})
    assert diagnostics(capsys, root) == (
        1,
        [("prompts/a.yaml", 3, None, "error", "undeclared-variable")],
        ["'customer' is not defined: declare it under `variables:` (runtime) or `constants:` (build time)"],
    )


def test_unused_runtime_variable_is_a_warning(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = project(tmp_path, {"prompts/a.yaml": "prompt: hi\nvariables:\n  who: {description: x}\n" + SKIP})
    run = validate(capsys, root)
    assert run.code == 0
    assert run.out.splitlines() == [
        "prompts/a.yaml:3:3: warning[unused-variable]: runtime variable 'who' is declared but never used: "
        "remove it or use {{ who }}"
    ]
    assert run.err == "0 error(s), 1 warning(s) in 1 prompt(s) and 0 dataset(s)\n"


def _misuse(where: str) -> str:
    return (
        f"runtime variable 'who' is used in {where}, but its value only exists at run time (Langfuse substitutes "
        "{{who}} after the template is rendered): print it as {{ who }}, or make it a constant"
    )


@pytest.mark.parametrize(
    ("template", "where"),
    [
        ("{% if who %}x{% endif %}", "an {% if %} condition"),
        ("{% for c in who %}{{ c }}{% endfor %}", "a {% for %} loop"),
        ("{{ who | upper }}", "a filter"),
        ("{{ 'a' if who is string else 'b' }}", "a test"),
        ("{{ range(who) }}", "a call"),
    ],
    ids=["if", "for", "filter", "test", "call"],
)
def test_runtime_variable_where_jinja_needs_its_value(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, template: str, where: str
) -> None:
    text = f"prompt: |\n  first line\n  {template}\nvariables:\n  who: {{}}\n" + SKIP
    root = project(tmp_path, {"prompts/a.yaml": text})
    assert diagnostics(capsys, root) == (
        1,
        [("prompts/a.yaml", 3, None, "error", "runtime-variable-in-logic")],
        [_misuse(where)],
    )


def test_literal_braces_after_render(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = project(tmp_path, {"prompts/a.yaml": "prompt: 'Say {% raw %}{{x}}{% endraw %}'\n" + SKIP})
    code, found, messages = diagnostics(capsys, root)
    assert (code, found) == (1, [("prompts/a.yaml", 1, 1, "error", "literal-braces")])
    assert messages[0].startswith("the rendered text contains '{{x}}', which Langfuse would treat as a variable")


UNCLOSED = (
    "the stored text has a '{{' that opens no variable ('…in templates: Tags open with {{ in templates.'): "
    'the Langfuse JS/TS SDK\'s compile() (Mustache) throws "Unclosed tag" on every call, while the Python SDK '
    "keeps it as text. Neither SDK can escape it: write the braces apart ('{ {') or in words"
)


def test_an_unclosed_literal_brace_pair_that_the_js_sdk_cannot_compile(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Passes the Python SDK (an unclosed {{ is text there); Mustache in the JS/TS SDK throws on every compile().
    text = "prompt: 'Hi {{ who }}. Write in templates: Tags open with {{ \"{{\" }} in templates.'\n"
    chat = "type: chat\nmessages:\n  - {role: system, content: ok}\n  - role: user\n"
    chat += "    content: '{{ who }} opens with {{ \"{{\" }}'\n"
    root = project(
        tmp_path,
        {
            "prompts/a.yaml": text + "variables: {who: {}}\n" + SKIP,
            "prompts/b.yaml": chat + "variables: {who: {}}\n" + SKIP,
        },
    )
    code, found, messages = diagnostics(capsys, root)
    assert (code, found) == (
        1,
        [
            ("prompts/a.yaml", 1, 1, "error", "sdk-incompatible"),
            ("prompts/b.yaml", 5, None, "error", "sdk-incompatible"),
        ],
    )
    assert messages[0] == UNCLOSED


def test_braces_both_sdks_read_as_text_pass(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = 'prompt: \'JSON like {"a": {"b": 1}} and {{ who }}} and { {x} }, closing }} alone\'\n'
    root = project(tmp_path, {"prompts/a.yaml": text + "variables: {who: {}}\n" + SKIP})
    assert diagnostics(capsys, root) == (0, [], [])


def test_render_error_from_the_sandbox(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = project(tmp_path, {"prompts/a.yaml": "# x\nprompt: \"{{ ''|attr('__class__') }}\"\n" + SKIP})
    code, found, messages = diagnostics(capsys, root)
    assert (code, found) == (1, [("prompts/a.yaml", 2, 1, "error", "render-error")])
    assert (
        "unsafe template refused by the sandbox: access to attribute '__class__' of 'str' object is unsafe"
        in (messages[0])
    )


# --- names and labels -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("'a<b>x</b>'", "must not contain HTML tags"),
        ("a|b", "must not contain '|' (Langfuse uses it for prompt composition)"),
        ("/a", "must not start or end with '/' or contain '//'"),
        ("a//b", "must not start or end with '/' or contain '//'"),
        ("new", "is reserved by Langfuse (new, metrics, prompt-detail)"),
    ],
    ids=["html-tag", "pipe", "leading-slash", "double-slash", "reserved-new"],
)
def test_invalid_prompt_names(capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, why: str) -> None:
    root = project(tmp_path, {"prompts/a.yaml": f"prompt: hi\n{SKIP}name: {name}\n"})
    shown = name.strip("'")
    assert diagnostics(capsys, root) == (
        1,
        [("prompts/a.yaml", 3, 1, "error", "invalid-name")],
        [f"prompt name {shown!r}: {why}"],
    )


def test_reserved_name_from_the_file_path(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = project(tmp_path, {"prompts/new.yaml": "prompt: hi\n" + SKIP})
    assert diagnostics(capsys, root) == (
        1,
        [("prompts/new.yaml", 1, 1, "error", "invalid-name")],
        ["prompt name 'new': is reserved by Langfuse (new, metrics, prompt-detail)"],
    )


def test_invalid_labels(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    long = "x" * 37
    labels = f"labels:\n  - Staging\n  - {long}\n  - latest\n  - production\n  - release-3\n  - fine-1.0\n"
    root = project(tmp_path, {"prompts/a.yaml": "prompt: hi\n" + SKIP + labels})
    managed = "is managed by promptops (latest by Langfuse, production and release-N by the gate)"
    assert diagnostics(capsys, root) == (
        1,
        [("prompts/a.yaml", line, 5, "error", "invalid-label") for line in (4, 5, 6, 7, 8)],
        [
            "label 'Staging' must be lowercase letters, digits, '_', '-' or '.'",
            f"label '{long}' is longer than 36 characters",
            f"label 'latest' {managed}",
            f"label 'production' {managed}",
            f"label 'release-3' {managed}",
        ],
    )


def test_duplicate_prompt_names(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = project(
        tmp_path, {"prompts/x/a.yaml": "prompt: hi\n" + SKIP, "prompts/z.yaml": "prompt: hi\n" + SKIP + "name: x/a\n"}
    )
    assert diagnostics(capsys, root) == (
        1,
        [("prompts/z.yaml", 3, 1, "error", "duplicate-name")],
        ["prompt name 'x/a' is already used by prompts/x/a.yaml: rename one of them"],
    )


# --- datasets and experiments ----------------------------------------------------------------------------------


def test_dataset_schema(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = "items:\n  - id: one\n    input: 3\n  - id: 'two words'\n    input: {}\n"
    root = project(tmp_path, {"prompts/a.yaml": "prompt: hi\n" + SKIP, "prompts/datasets/d.yaml": data})
    assert diagnostics(capsys, root) == (
        1,
        [
            ("prompts/datasets/d.yaml", 3, 5, "error", "dataset-schema"),
            ("prompts/datasets/d.yaml", 4, 5, "error", "dataset-schema"),
        ],
        ["items.0.input: 3 is not of type 'object'", "items.1.id: 'two words' does not match '^[A-Za-z0-9_.:-]+$'"],
    )


def test_dataset_duplicate_ids(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = "items:\n  - {id: one, input: {}}\n  - {id: two, input: {}}\n  - {id: one, input: {}}\n"
    root = project(tmp_path, {"prompts/a.yaml": "prompt: hi\n" + SKIP, "prompts/datasets/d.yaml": data})
    assert diagnostics(capsys, root) == (
        1,
        [("prompts/datasets/d.yaml", 4, None, "error", "duplicate-item-id")],
        ["item id 'one' is used again (first on line 2): ids must be unique"],
    )


def test_dataset_items_missing_runtime_variables(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    prompt = (
        "prompt: '{{ q }} {{ r }}'\nvariables:\n  q: {}\n  r: {}\n  s: {required: false}\nexperiment: {dataset: d}\n"
    )
    data = "items:\n  - id: full\n    input: {q: 1, r: 2}\n  - id: partial\n    input: {q: 1, s: 3}\n"
    root = project(tmp_path, {"prompts/a.yaml": prompt, "prompts/datasets/d.yaml": data})
    code, found, messages = diagnostics(capsys, root)
    assert (code, found[-1:]) == (1, [("prompts/datasets/d.yaml", 4, None, "error", "dataset-missing-variable")])
    assert messages[-1] == ("item 'partial' has no input 'r', which prompt 'a' requires: add it to the item's `input`")
    assert found[:-1] == [("prompts/a.yaml", 5, 3, "warning", "unused-variable")]


def test_unknown_dataset(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    prompt = "prompt: hi\nexperiment:\n  dataset: nope\n"
    root = project(tmp_path, {"prompts/a.yaml": prompt, "prompts/datasets/d.yaml": DATASET})
    assert diagnostics(capsys, root) == (
        1,
        [("prompts/a.yaml", 3, 3, "error", "unknown-dataset")],
        ["dataset 'nope' does not exist in prompts/datasets/ (known: d)"],
    )


def test_unknown_evaluator_kind(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    prompt = "prompt: hi\nexperiment:\n  dataset: d\n  evaluators:\n    - type: exact_match\n    - type: telepathy\n"
    root = project(tmp_path, {"prompts/a.yaml": prompt, "prompts/datasets/d.yaml": DATASET})
    code, found, messages = diagnostics(capsys, root)
    assert (code, found) == (1, [("prompts/a.yaml", 6, 7, "error", "evaluator")])
    assert messages[0].startswith("evaluator 'telepathy': kind: unknown evaluator kind 'telepathy'; known kinds: ")
    assert "exact_match" in messages[0] and messages[0].endswith("or a custom module:function")


def test_unknown_gate_metrics(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    prompt = (
        "prompt: hi\nexperiment:\n  dataset: d\n  evaluators:\n    - type: exact_match\n"
        "gate:\n  primary: vibes\n  guardrails:\n    - metric: nope\n  floors:\n    floor_m: 0.5\n"
    )
    root = project(tmp_path, {"prompts/a.yaml": prompt, "prompts/datasets/d.yaml": DATASET})
    known = "(metrics: error_rate, exact_match, latency_p50, latency_p95)"
    assert diagnostics(capsys, root) == (
        1,
        [
            ("prompts/a.yaml", 7, 3, "error", "unknown-metric"),
            ("prompts/a.yaml", 9, 7, "error", "unknown-metric"),
            ("prompts/a.yaml", 11, 5, "error", "unknown-metric"),
        ],
        [f"gate metric {m!r} is not produced by the experiment {known}" for m in ("vibes", "nope", "floor_m")],
    )


def test_missing_experiment(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = project(tmp_path, {"prompts/a.yaml": "prompt: hi\n"})
    assert diagnostics(capsys, root) == (
        1,
        [("prompts/a.yaml", 1, 1, "error", "missing-experiment")],
        [
            "prompt has no experiment, so the gate cannot judge it: add `experiment:` with a dataset, "
            "or `experiment: {skip: <why>}`"
        ],
    )


def test_a_latency_gate_with_the_mock_is_a_warning(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    gate = "gate:\n  primary: exact_match\n  guardrails:\n    - {metric: latency_p95, max_regression: 0.1}\n"
    experiment = "experiment:\n  dataset: d\n  evaluators: [{type: exact_match}]\n"
    root = project(
        tmp_path,
        {
            "prompts/a.yaml": "prompt: 'x {{ q }}'\nvariables: {q: {}}\n" + experiment + gate,
            "prompts/datasets/d.yaml": DATASET,
        },
    )
    assert diagnostics(capsys, root) == (
        0,
        [("prompts/a.yaml", 9, 7, "warning", "simulated-latency")],
        [
            "gate metric 'latency_p95' with mock-llm-v1: the mock's latency is simulated (model_options latency_ms "
            "and latency_jitter_ms, 0 by default), so this gates nothing real; it gates real latency once the "
            "experiment uses a real model"
        ],
    )


# --- secrets -----------------------------------------------------------------------------------------------------

OPENAI_KEY = "sk-proj-" + "Zx9Qw8Er7Ty6Ui5Op4As3Df2"
LANGFUSE_KEY = "sk-lf-" + "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"
GITHUB_TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
KEY_HEADER = "-----BEGIN RSA PRIVATE KEY-----"


def _secret_message(kind: str) -> str:
    article = "an" if kind[0].lower() in "aeio" else "a"
    return f"this looks like {article} {kind}: never commit credentials; remove it and rotate the key"


@pytest.mark.parametrize(
    ("files", "where", "kind", "secret"),
    [
        (
            {"prompts/a.yaml": f"prompt: |\n  hello\n  use {OPENAI_KEY} please\n{SKIP}"},
            ("prompts/a.yaml", 3, 7),
            "OpenAI API key",
            OPENAI_KEY,
        ),
        (  # it also matches the wider sk- pattern of OpenAI keys: still one key, one problem
            {"prompts/a.yaml": f"prompt: 'key {LANGFUSE_KEY}'\n{SKIP}"},
            ("prompts/a.yaml", 1, 14),
            "Langfuse secret key",
            LANGFUSE_KEY,
        ),
        (
            {"prompts/a.yaml": SKIP, "prompts/a.jinja": f"one\n{KEY_HEADER}\nMIIEpAIBAAKCAQEA\n"},
            ("prompts/a.jinja", 2, 1),
            "private key",
            "MIIEpAIBAAKCAQEA",
        ),
        (
            {
                "prompts/a.yaml": "prompt: hi\n" + SKIP,
                "prompts/datasets/d.yaml": f"items:\n  - id: t\n    input: {{q: {GITHUB_TOKEN}}}\n",
            },
            ("prompts/datasets/d.yaml", 3, 16),
            "GitHub token",
            GITHUB_TOKEN,
        ),
        (
            {"prompts/a.yaml": "prompt: hi\n" + SKIP, "prompts/_partials/p.jinja": f"x {GITHUB_TOKEN}\n"},
            ("prompts/_partials/p.jinja", 1, 3),
            "GitHub token",
            GITHUB_TOKEN,
        ),
    ],
    ids=[
        "openai-key-in-prompt",
        "langfuse-key-once",
        "private-key-in-sibling",
        "github-token-in-dataset",
        "github-token-in-partial",
    ],
)
def test_secrets_are_found_and_never_echoed(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    files: dict[str, str | bytes],
    where: tuple[str, int, int],
    kind: str,
    secret: str,
) -> None:
    root = project(tmp_path, files)
    for fmt in ("text", "json", "github"):
        run = validate(capsys, root, "--format", fmt)
        assert run.code == 1
        assert secret not in run.out + run.err
        assert KEY_HEADER not in run.out + run.err
    assert diagnostics(capsys, root) == (1, [(*where, "error", "secret")], [_secret_message(kind)])


def test_secret_in_a_file_with_schema_errors_is_reported_not_echoed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = project(tmp_path, {"prompts/a.yaml": f"prompt: hi\ntags: {OPENAI_KEY}\n{SKIP}"})
    run = validate(capsys, root, "--format", "json")
    assert OPENAI_KEY not in run.out + run.err
    assert ("prompts/a.yaml", 2, 7, "error", "secret") in diagnostics(capsys, root)[1]


def test_a_secret_in_a_prompt_too_large_to_load_is_still_found_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Loading scans the prompt files it reads; one too large to load is scanned by the scan of every file.
    padding = "#" + "x" * 1_100_000 + "\n"
    root = project(tmp_path, {"prompts/a.yaml": f"prompt: hi\n{padding}# {OPENAI_KEY}\n{SKIP}"})
    found = diagnostics(capsys, root)[1]
    assert [d[3:] for d in found] == [("error", "file-too-large"), ("error", "secret")]
    assert found[1][:3] == ("prompts/a.yaml", 3, 3)


# --- validate writes nothing and runs no repository code ------------------------------------------------------


def _snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    seen = {}
    for path in sorted(root.rglob("*")):
        stat = path.lstat()
        content = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        seen[path.relative_to(root).as_posix()] = (stat.st_mtime_ns, stat.st_size, content)
    return seen


@pytest.mark.parametrize("broken", [False, True], ids=["clean", "broken"])
def test_validate_writes_nothing_but_its_cache(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, broken: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(tmp_path / "repo", BROKEN if broken else {}, examples=True)
    before = _snapshot(root)
    root_mtime = root.stat().st_mtime_ns
    monkeypatch.setenv("PROMPTOPS_NO_CACHE", "1")  # the same as --no-cache
    for fmt in ("text", "json", "github"):
        assert validate(capsys, root, "--format", fmt).code == (1 if broken else 0)
    assert _snapshot(root) == before
    assert root.stat().st_mtime_ns == root_mtime
    assert not (root / ".promptops").exists()
    monkeypatch.delenv("PROMPTOPS_NO_CACHE")
    assert validate(capsys, root).code == (1 if broken else 0)
    written = {p for p in _snapshot(root) if p not in before}
    shards = {p for p in written if re.fullmatch(r"\.promptops/cache/validate/[0-3][0-9a-f]\.pickle", p)}
    assert 0 < len(shards) <= 64  # the per-file cache, in shards named by the first digits of its keys
    answers = {p for p in written if re.fullmatch(r"\.promptops/cache/answers/[0-3][0-9a-f]\.pickle", p)}
    assert 0 < len(answers) <= 64  # validate's answer about each prompt file, sharded the same way
    assert written - shards - answers == {
        ".promptops",
        ".promptops/.gitignore",
        ".promptops/cache",
        ".promptops/cache/answers",
        ".promptops/cache/config.json",
        ".promptops/cache/validate",
        ".promptops/cache/validate-result.pickle",
    }  # validate keeps its answer; the loaded project is kept by the commands that use it (diff, sync, check)


def test_validate_does_not_import_modules_named_by_prompt_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = tmp_path / "canary"
    module = f"pr_evaluator_{tmp_path.name.replace('-', '_')}"
    prompt = f"prompt: hi\nexperiment:\n  dataset: d\n  evaluators:\n    - type: '{module}:score'\n"
    root = project(
        tmp_path,
        {
            "prompts/a.yaml": prompt,
            "prompts/datasets/d.yaml": DATASET,
            f"{module}.py": f"open({str(canary)!r}, 'w').close()\ndef score(output):\n    return 1.0\n",
        },
    )
    monkeypatch.syspath_prepend(str(root))  # as with `python -m promptops` in the checkout, or `pip install -e .`
    validate(capsys, root)
    assert not canary.exists()


def test_a_custom_module_that_does_not_exist_is_an_error_found_without_importing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    canary = tmp_path / "canary"
    package = f"evals_{tmp_path.name.replace('-', '_')}"
    evaluators = f"    - type: '{package}.checks:score'\n    - type: '{package}.nope:score'\n"
    prompt = "prompt: hi\nexperiment:\n  dataset: d\n  task: 'no_such_tasks:run'\n  evaluators:\n" + evaluators
    root = project(
        tmp_path,
        {
            "prompts/a.yaml": prompt,
            "prompts/datasets/d.yaml": DATASET,
            f"{package}/__init__.py": f"open({str(canary)!r}, 'w').close()\n",
            f"{package}/checks.py": "def score(output):\n    return 1.0\n",
        },
    )
    assert diagnostics(capsys, root) == (
        1,
        [("prompts/a.yaml", 4, 3, "error", "missing-module"), ("prompts/a.yaml", 7, 7, "error", "evaluator")],
        [
            "task module 'no_such_tasks' not found: promptops imports it from the project root (e.g. "
            "no_such_tasks.py) or the installed packages",
            f"evaluator '{package}.nope:score': module '{package}.nope' not found: promptops imports it from the "
            f"project root (e.g. {package}/nope.py) or the installed packages",
        ],
    )
    assert not canary.exists()
