"""promptops.compile gives exactly what the installed langfuse SDK's compile() gives, on generated prompts."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from promptops.compile import compile_prompt, compile_template, variable_names
from promptops.model import RenderedPrompt
from tests.helpers import sdk_compile

NAMES = ("who", "tier", " who ", "a b", "", "x}")
# Pieces that make the parser's edge cases likely: braces alone and paired, names with spaces, unclosed tags.
PIECES = st.sampled_from(["{{", "}}", "{", "}", "{{ who }}", "{{tier}}", "{{ a b }}", " ", "who", "\n", "é", "{{{"])
TEXT = st.lists(st.one_of(PIECES, st.text(max_size=4)), max_size=12).map("".join)
VALUE = st.one_of(st.none(), st.text(max_size=6), st.integers(-5, 5), st.booleans())
VALUES = st.dictionaries(st.sampled_from(NAMES).map(str.strip), VALUE, max_size=4)
MESSAGE = st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant"]), "content": TEXT})
GIVEN_MESSAGE = st.one_of(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "tool"]), "content": TEXT}),
    st.fixed_dictionaries({"content": TEXT}),  # no role: the SDK supplies NOT_GIVEN
    st.fixed_dictionaries({"role": st.just("assistant"), "content": TEXT, "tool_calls": st.just([{"id": "1"}])}),
    st.text(max_size=5),  # not a message: the whole value becomes one NOT_GIVEN message
)
PLACEHOLDER = st.fixed_dictionaries({"type": st.just("placeholder"), "name": st.sampled_from(["history", "tier"])})


def _rendered(prompt: Any) -> RenderedPrompt:
    return RenderedPrompt("p", "text" if isinstance(prompt, str) else "chat", prompt, {}, (), (), "", "")


@settings(max_examples=400, deadline=None)
@given(text=TEXT, values=VALUES)
def test_text_compiles_as_the_sdk_compiles(text: str, values: dict[str, Any]) -> None:
    assert compile_prompt(_rendered(text), values) == sdk_compile(_rendered(text), values)


@settings(max_examples=300, deadline=None)
@given(
    messages=st.lists(st.one_of(MESSAGE, PLACEHOLDER), max_size=5),
    values=VALUES,
    history=st.one_of(st.none(), st.lists(GIVEN_MESSAGE, max_size=3), st.text(max_size=5), st.integers()),
)
def test_chat_compiles_as_the_sdk_compiles(messages: list[dict[str, Any]], values: dict[str, Any], history) -> None:
    if history is not None:
        values = {**values, "history": history}
    assert compile_prompt(_rendered(messages), values) == sdk_compile(_rendered(messages), values)


def test_known_edges() -> None:
    values = {"who": "Ada", "tier": None}
    assert compile_template("Hi {{ who }}, {{tier}}! {{ unknown }}", values) == "Hi Ada, ! {{ unknown }}"
    assert compile_template("open {{ who and no close", values) == "open {{ who and no close"
    assert compile_template("{{{{ who }}}}", values) == "{{{{ who }}}}"  # the name is "{{ who", unknown
    assert compile_template("}} {{who}}", values) == "}} Ada"


def test_compiling_does_not_import_the_sdk() -> None:
    # The point of compiling without the SDK: a local experiment or `render` never pays for importing langfuse.
    code = (
        "import sys; from promptops.model import RenderedPrompt; from promptops.tasks.generate import "
        "compile_messages; p = RenderedPrompt('p', 'text', 'Hi {{ who }}', {}, (), (), '', ''); "
        "assert compile_messages(p, {'who': 'Ada'}) == [{'role': 'user', 'content': 'Hi Ada'}]; "
        "print('langfuse' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@settings(max_examples=300, deadline=None)
@given(text=TEXT)
def test_variable_names_are_the_sdks(text: str) -> None:
    from langfuse.model import TemplateParser

    assert variable_names(text) == TemplateParser.find_variable_names(text)
