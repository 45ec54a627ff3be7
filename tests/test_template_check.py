"""The one-pass template analysis equals Jinja's own two passes, and partials are read once per validation.

`template_check.analyse` parses a template and generates its Python once, gathering the undeclared names on the
way; validation used to ask `jinja2.meta.find_undeclared_variables` (a second code generation) and then render
with `env.from_string` (a second parse and a third). Over random templates, built from Jinja's constructs and
random characters, the names, the Python and the rendered text must be what Jinja's own calls give.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import meta

from promptops import api, files
from promptops.render import environment
from promptops.sandbox import bounded
from promptops.template_check import analyse
from tests.helpers import make_project

NAMES = ["x", "y", "item", "loop", "range", "company", "_x"]
name = st.sampled_from(NAMES)
expression = st.one_of(
    name,
    st.builds("{}|upper".format, name),
    st.builds("{}.title()".format, name),
    st.builds("{} ~ {}".format, name, name),
    st.builds("{} if {} else 'n'".format, name, name),
    st.builds("{}|unknown_filter".format, name),
    st.builds("{} is unknown_test".format, name),
    st.just("[1, 2][0]"),
)
piece = st.one_of(
    st.text(alphabet="ab \n{}%#-", max_size=6),
    st.builds("{{{{ {} }}}}".format, expression),
    st.builds("{{% if {} %}}a{{% else %}}{{{{ {} }}}}{{% endif %}}".format, expression, name),
    st.builds("{{% for {} in {} %}}{{{{ loop.index }}}}{{{{ {} }}}}{{% endfor %}}".format, name, name, name),
    st.builds("{{% set {} = {} %}}".format, name, expression),
    st.builds("{{% macro m({}) %}}{{{{ {} }}}}{{% endmacro %}}{{{{ m(1) }}}}".format, name, name),
    st.just("{% raw %}{{ x }}{% endraw %}"),
    st.just("{# comment #}\n"),
    st.just("{% if x %}unclosed"),
)
templates = st.lists(piece, max_size=6).map("".join)


def _env(tmp_path: Path):
    root = make_project(tmp_path, {"prompts/_partials/p.jinja": "{{ y }}\n"})
    return environment(files.read_scope(root / "prompts", root), root)


@settings(max_examples=300, deadline=None)
@given(source=templates)
def test_one_pass_equals_jinjas_parse_meta_and_compile(tmp_path_factory, source: str) -> None:
    env = _env(tmp_path_factory.mktemp("analyse"))
    found = analyse(env, source)
    try:
        expected_names = meta.find_undeclared_variables(env.parse(source))
        expected_python = env.compile(source, raw=True)
    except Exception as exc:  # Jinja refuses it: the analysis says so instead of raising
        assert found.problem is not None, f"Jinja raised {exc!r}, the analysis found no problem"
        return
    assert found.problem is None
    assert found.undeclared == expected_names
    assert found.python == expected_python
    context = {n: f"<{n}>" for n in NAMES if n not in ("loop", "range")} | {"x": [1, 2], "y": "why"}
    with bounded():
        try:
            expected = env.from_string(source).render(context)
        except Exception as exc:
            expected = f"raised {type(exc).__name__}"
        template = env.template_class.from_code(
            env, compile(found.python, "<template>", "exec"), env.make_globals(None), None
        )
        try:
            got = template.render(context)
        except Exception as exc:
            got = f"raised {type(exc).__name__}"
    assert got == expected


def test_partials_are_read_once_per_validation_and_reported_for_every_prompt(tmp_path: Path, monkeypatch) -> None:
    prompt = "prompt: |\n  {{% include '_partials/{}.jinja' %}}\nexperiment: {{skip: a partial test}}\n"
    root = make_project(
        tmp_path,
        {
            **{f"prompts/good-{i}.yaml": prompt.format("tone") for i in range(5)},
            **{f"prompts/broken-{i}.yaml": prompt.format("broken") for i in range(3)},
            **{f"prompts/missing-{i}.yaml": prompt.format("gone") for i in range(2)},
            "prompts/_partials/tone.jinja": "Be polite.\n",
            "prompts/_partials/broken.jinja": "{% if %}\n",
        },
    )
    reads: list[str] = []
    real_read = files.read_text

    def counting(path: Path, *args, **kwargs):
        reads.append(path.name)
        return real_read(path, *args, **kwargs)

    monkeypatch.setattr(files, "read_text", counting)
    project, diagnostics = api.checked(api.load_settings(root, cache=False))
    # However many prompts include them: once by the checks, once by the secret scan of every file, and the
    # partial that renders once more, by Jinja's template cache.
    assert reads.count("tone.jinja") == 3
    assert reads.count("broken.jinja") == 2
    assert sorted(project.rendered) == [f"good-{i}" for i in range(5)]
    assert [(d.path, d.line, d.code) for d in diagnostics if d.severity == "error"] == [
        ("prompts/_partials/broken.jinja", 1, "jinja-syntax"),
        *[(f"prompts/missing-{i}.yaml", 2, "include-not-found") for i in range(2)],
    ]
