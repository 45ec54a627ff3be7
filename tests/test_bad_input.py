"""Hostile and broken prompt repositories: validate names the file, line and code, exits 1, and never runs code.

Prompt files come from pull requests while CI holds secrets, so each case here is something a pull request can
contain. Every case runs the real CLI in-process and checks the same things: exit code 1, a diagnostic line with
the expected location and code, one line per diagnostic, no traceback, and no canary file (the payloads that
would run code try to create it). Resource bombs that would hurt the test process run in a child process with
memory and CPU limits instead.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import EXAMPLE_PROMPTS, git, git_init, make_project, run_cli, write_files

SKIP = "experiment: {skip: corpus case}\n"
DATASET_USER = "prompt: hi\n" + SKIP  # a valid prompt next to a broken dataset
DIAGNOSTIC = re.compile(
    r"^(?P<loc>.+?(?::\d+(?::\d+)?)?): (?P<severity>error|warning)\[(?P<code>[a-z0-9-]+)\]: (?P<message>.+)$"
)
SUMMARY = re.compile(r"^\d+ error\(s\), \d+ warning\(s\) in \d+ prompt\(s\) and \d+ dataset\(s\)$")


@dataclass(frozen=True)
class Case:
    """A broken repository and the diagnostic validate must give for it.

    `where` is `path`, `path:line` or `path:line:col`; a line must be reported when `where` has one. In file
    contents CANARY stands for a file the payload would create if it ran; `outside` files live next to the
    repository and `links` makes symlinks (path in the repo -> file in `outside`, or a relative target as
    given when it starts with `.`). `fifos` are named pipes; `config` replaces promptops.yaml; with `git`
    the files are committed, and `untracked` ones are written after (what CI leaves in a checkout).
    """

    files: dict[str, str | bytes]
    where: str
    code: str
    message: str = ""
    outside: dict[str, str] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    fifos: tuple[str, ...] = ()
    config: str = ""
    git: bool = False
    untracked: dict[str, str] = field(default_factory=dict)


def text(template: str, extra: str = "") -> str:
    """Return a prompt file whose `prompt:` (on line 1) is `template`."""
    return yaml.safe_dump({"prompt": template}, width=10_000) + SKIP + extra


def block(*lines: str) -> str:
    """Return a prompt file with a block-scalar template: its first line is line 2 of the file."""
    return "prompt: |\n" + "".join(f"  {line}\n" for line in lines) + SKIP


def nested(levels: int) -> str:
    """Return `levels` aliases deep, each expanding to nine of the one before ("billion laughs")."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + f"\nprompt: *l{levels - 1}\n" + SKIP


HUGE = "prompt: |\n" + ("  " + "lorem ipsum " * 85 + "\n") * 1100 + SKIP  # ~1.1 MiB, written by one case only


def case(
    name: str,
    files: dict[str, str | bytes],
    where: str,
    code: str,
    message: str = "",
    *,
    outside: dict[str, str] | None = None,
    links: dict[str, str] | None = None,
    **options: Any,
) -> object:
    """Return a pytest param for a case."""
    return pytest.param(Case(files, where, code, message, outside or {}, links or {}, **options), id=name)


CORPUS = [
    # --- malformed YAML -------------------------------------------------------------------------------------
    case(
        "yaml-unclosed-flow-sequence",
        {"prompts/a.yaml": "prompt: hi\ntags: [a, b\n" + SKIP},
        "prompts/a.yaml:3:11",
        "yaml-syntax",
        "expected ',' or ']'",
    ),
    case(
        "yaml-unclosed-quote",
        {"prompts/a.yaml": 'prompt: "hi\n' + SKIP},
        "prompts/a.yaml:3:1",
        "yaml-syntax",
        "unexpected end of stream",
    ),
    case(
        "yaml-bad-indentation",
        {"prompts/a.yaml": "prompt: hi\n  tags: [a]\n"},
        "prompts/a.yaml:2:7",
        "yaml-syntax",
        "mapping values are not allowed in this context",
    ),
    case(
        "yaml-tab-indentation",
        {"prompts/a.yaml": "variables:\n\tx: {}\nprompt: hi\n"},
        "prompts/a.yaml:2:1",
        "yaml-syntax",
        "found character that cannot start any token",
    ),
    case(
        "yaml-colon-in-plain-scalar",
        {"prompts/a.yaml": "prompt: Answer: yes\n" + SKIP},
        "prompts/a.yaml:1:15",
        "yaml-syntax",
        "mapping values are not allowed in this context",
    ),
    case(
        "yaml-two-documents",
        {"prompts/a.yaml": "prompt: a\n" + SKIP + "---\nprompt: b\n"},
        "prompts/a.yaml:3:1",
        "yaml-syntax",
        "but found another document",
    ),
    case(
        "yaml-undefined-alias",
        {"prompts/a.yaml": "prompt: *nowhere\n" + SKIP},
        "prompts/a.yaml:1:9",
        "yaml-syntax",
        "found undefined alias",
    ),
    case(
        "yaml-control-character",
        {"prompts/a.yaml": "prompt: hi\ndescription: bell \x07\n" + SKIP},
        "prompts/a.yaml:2:19",
        "yaml-syntax",
        "#x0007",
    ),
    case(
        "yaml-invalid-date",
        {"prompts/a.yaml": "prompt: hi\ndescription: 2024-13-45\n" + SKIP},
        "prompts/a.yaml:2:14",
        "yaml-value",
        "month must be in 1..12",
    ),
    case(
        "yaml-billion-laughs-aliases",
        {"prompts/a.yaml": nested(9)},
        "prompts/a.yaml:2:10",  # the first alias
        "yaml-alias",
        "YAML aliases (*name) are not supported",
    ),
    case(
        "yaml-merge-key",
        {"prompts/a.yaml": "prompt: hi\n<<: {description: x}\n" + SKIP},
        "prompts/a.yaml:2:1",
        "yaml-merge",
        "merge keys (<<) are not supported",
    ),
    case(
        "yaml-python-object-apply-os-system",
        {"prompts/a.yaml": "prompt: !!python/object/apply:os.system ['touch CANARY']\n" + SKIP},
        "prompts/a.yaml:1:9",
        "yaml-tag",
        "unsupported YAML tag 'tag:yaml.org,2002:python/object/apply:os.system'",
    ),
    case(
        "yaml-python-object-apply-on-mapping",
        {"prompts/a.yaml": "prompt: hi\nconfig: !!python/object/apply:os.system {args: ['touch CANARY']}\n" + SKIP},
        "prompts/a.yaml:2:9",
        "yaml-tag",
        "python/object/apply",
    ),
    case(
        "yaml-python-name-tag",
        {"prompts/a.yaml": "prompt: !!python/name:os.system\n" + SKIP},
        "prompts/a.yaml:1:9",
        "yaml-tag",
        "unsupported YAML tag 'tag:yaml.org,2002:python/name:os.system'",
    ),
    case(
        "yaml-escaped-lone-surrogate",
        {"prompts/a.yaml": 'prompt: "a \\uD800 b"\n' + SKIP},
        "prompts/a.yaml:1",
        "yaml-syntax",
    ),
    case(
        "yaml-duplicate-key",
        {"prompts/a.yaml": "prompt: one\n" + SKIP + "prompt: two\n"},
        "prompts/a.yaml:3:1",
        "duplicate-key",
        "duplicate key 'prompt'",
    ),
    case(
        "yaml-complex-key",
        {"prompts/a.yaml": "prompt: hi\n? [a, b]\n: c\n" + SKIP},
        "prompts/a.yaml:2:3",
        "yaml-key",
        "mapping keys must be plain strings",
    ),
    case(
        "yaml-deep-nesting",
        {"prompts/a.yaml": "prompt: hi\n" + SKIP + "config: {x: " + "[" * 600 + "]" * 600 + "}\n"},
        "prompts/a.yaml:1:1",
        "yaml-nesting",
        "nested too deeply",
    ),
    case(
        "yaml-top-level-list",
        {"prompts/a.yaml": "- prompt: hi\n"},
        "prompts/a.yaml:1:1",
        "schema",
        "the top level must be a mapping",
    ),
    case(
        "yaml-top-level-scalar",
        {"prompts/a.yaml": "just some text\n"},
        "prompts/a.yaml:1:1",
        "schema",
        "the top level must be a mapping",
    ),
    case(
        "yaml-comment-only",
        {"prompts/a.yaml": "# nothing here yet\n"},
        "prompts/a.yaml:1:1",
        "empty-file",
        "file has no YAML content",
    ),
    # --- wrong types, unknown keys, impossible combinations ------------------------------------------------
    case(
        "wrong-type-prompt-number",
        {"prompts/a.yaml": "prompt: 42\n" + SKIP},
        "prompts/a.yaml:1:1",
        "schema",
        "prompt: 42 is not of type 'string'",
    ),
    case(
        "wrong-type-variables-list",
        {"prompts/a.yaml": "prompt: hi\nvariables: [a, b]\n" + SKIP},
        "prompts/a.yaml:2:1",
        "schema",
        "is not of type 'object'",
    ),
    case(
        "wrong-type-experiment-repeats",
        {"prompts/a.yaml": "prompt: hi\nexperiment:\n  dataset: d\n  repeats: many\n"},
        "prompts/a.yaml:4:3",
        "schema",
        "experiment.repeats: 'many' is not of type 'integer'",
    ),
    case(
        "unknown-top-level-key",
        {"prompts/a.yaml": "prompt: hi\ntemprature: 0.2\n" + SKIP},
        "prompts/a.yaml:2:1",
        "schema",
        "unknown key 'temprature'",
    ),
    case(
        "unknown-variable-key",
        {"prompts/a.yaml": "prompt: '{{ x }}'\nvariables:\n  x:\n    kind: string\n" + SKIP},
        "prompts/a.yaml:4:5",
        "schema",
        "variables.x: unknown key 'kind'",
    ),
    case(
        "unknown-gate-key",
        {"prompts/a.yaml": "prompt: hi\n" + SKIP + "gate: {primary: x, colour: red}\n"},
        "prompts/a.yaml:3:20",
        "schema",
        "gate: unknown key 'colour'",
    ),
    case(
        "bad-variable-type-enum",
        {"prompts/a.yaml": "prompt: '{{ x }}'\nvariables:\n  x:\n    type: text\n" + SKIP},
        "prompts/a.yaml:4:5",
        "schema",
        "'text' is not one of",
    ),
    case(
        "bad-variable-name",
        {"prompts/a.yaml": "prompt: '{{ x }}'\nvariables: {'1x': {}, x: {}}\n" + SKIP},
        "prompts/a.yaml:2:1",
        "schema",
        "'1x' does not match",
    ),
    case(
        "prompt-and-messages",
        {"prompts/a.yaml": "prompt: hi\nmessages:\n  - role: user\n    content: hi\n" + SKIP},
        "prompts/a.yaml:1:1",
        "schema",
        "give exactly one of `prompt`",
    ),
    case(
        "chat-message-without-role",
        {"prompts/a.yaml": "type: chat\nmessages:\n  - content: hi\n" + SKIP},
        "prompts/a.yaml:3:5",
        "schema",
        "'role' is a required property",
    ),
    case(
        "chat-without-messages",
        {"prompts/a.yaml": "type: chat\n" + SKIP},
        "prompts/a.yaml:1:1",
        "missing-template",
        "a chat prompt needs `messages:`",
    ),
    case(
        "text-type-with-messages",
        {"prompts/a.yaml": "type: text\nmessages:\n  - role: user\n    content: hi\n" + SKIP},
        "prompts/a.yaml:2:1",
        "schema",
        "`messages` needs `type: chat`",
    ),
    case(
        "no-template-at-all",
        {"prompts/a.yaml": SKIP},
        "prompts/a.yaml:1:1",
        "missing-template",
        "a sibling a.jinja",
    ),
    # --- bytes that are not a prompt file ------------------------------------------------------------------
    case(
        "non-utf8-bytes",
        {"prompts/a.yaml": b"prompt: caf\xe9\n" + SKIP.encode()},
        "prompts/a.yaml:1:12",
        "encoding",
        "byte 0xe9 is not valid UTF-8",
    ),
    case("empty-file", {"prompts/a.yaml": b""}, "prompts/a.yaml:1:1", "empty-file", "file is empty"),
    case(
        "whitespace-only-file",
        {"prompts/a.yaml": b"  \n\t\n   \n"},
        "prompts/a.yaml:1:1",
        "empty-file",
        "file is empty",
    ),
    case("huge-file", {"prompts/a.yaml": HUGE}, "prompts/a.yaml", "file-too-large", "the limit is 1,048,576 bytes"),
    case(
        "binary-nul-bytes",
        {"prompts/a.yaml": b"prompt: hi\n\x00\x01\x02\n"},
        "prompts/a.yaml:2",
        "binary-file",
        "file contains NUL bytes",
    ),
    case(
        "binary-sibling-template",
        {"prompts/a.yaml": SKIP, "prompts/a.jinja": b"\x89PNG\r\n\x1a\n\x00\x00"},
        "prompts/a.jinja:3",
        "binary-file",
        "NUL bytes",
    ),
    # --- links and includes that leave the repository ------------------------------------------------------
    case(
        "symlink-prompt-outside",
        {},
        "prompts/link.yaml",
        "symlink-escape",
        "a link to a place outside the prompts folder",
        outside={"stolen.yaml": "prompt: STOLEN\n" + SKIP},
        links={"prompts/link.yaml": "stolen.yaml"},
    ),
    case(
        "symlink-sibling-template-outside",
        {"prompts/a.yaml": SKIP},
        "prompts/a.jinja",
        "symlink-escape",
        "outside the prompts folder",
        outside={"t.jinja": "STOLEN\n"},
        links={"prompts/a.jinja": "t.jinja"},
    ),
    case(
        "symlink-partial-outside",
        {"prompts/a.yaml": text("{% include '_partials/p.jinja' %}")},
        "prompts/a.yaml:1",
        "include-not-found",
        "includes must stay inside the prompts folder",
        outside={"p.jinja": "STOLEN\n"},
        links={"prompts/_partials/p.jinja": "p.jinja"},
    ),
    case(
        "symlink-dataset-outside",
        {"prompts/a.yaml": DATASET_USER},
        "prompts/datasets/d.yaml",
        "symlink-escape",
        "outside the prompts folder",
        outside={"d.yaml": "items: []\n"},
        links={"prompts/datasets/d.yaml": "d.yaml"},
    ),
    case(
        "symlink-loop",
        {"prompts/a.yaml": DATASET_USER},
        "prompts/loop.yaml",
        "unreadable",
        links={"prompts/loop.yaml": "LOOP"},
    ),
    case(
        "include-dotdot-etc-passwd",
        {"prompts/a.yaml": text("{% include '../../etc/passwd' %}")},
        "prompts/a.yaml:1",
        "include-not-found",
        "includes must stay inside the prompts folder",
    ),
    case(
        "include-absolute-path",
        {"prompts/a.yaml": text("{% include '/etc/passwd' %}")},
        "prompts/a.yaml:1",
        "include-not-found",
        "includes must stay inside the prompts folder",
    ),
    case(
        "include-project-config",
        {"prompts/a.yaml": block("x", "{% include '../promptops.yaml' %}")},
        "prompts/a.yaml:3",
        "include-not-found",
        "includes must stay inside the prompts folder",
    ),
    case(
        "include-missing-partial",
        {"prompts/a.yaml": text("{% include '_partials/nope.jinja' %}")},
        "prompts/a.yaml:1",
        "include-not-found",
        "cannot include _partials/nope.jinja",
    ),
    case(
        "include-dynamic",
        {
            "prompts/a.yaml": text("{% include which %}", "constants: {which: _partials/p.jinja}\n"),
            "prompts/_partials/p.jinja": "hi\n",
        },
        "prompts/a.yaml:1",
        "include-dynamic",
        "include a fixed path",
    ),
    case(
        "include-cycle",
        {
            "prompts/a.yaml": text("{% include '_partials/loop.jinja' %}"),
            "prompts/_partials/loop.jinja": "again {% include '_partials/loop.jinja' %}\n",
        },
        "prompts/_partials/loop.jinja:1",
        "include-cycle",
        "includes form a cycle (_partials/loop.jinja → _partials/loop.jinja)",
    ),
    case(
        "include-binary-partial",
        {"prompts/a.yaml": text("{% include '_partials/bin.jinja' %}"), "prompts/_partials/bin.jinja": b"\x00\x01"},
        "prompts/a.yaml:1",
        "include-not-found",
        "NUL bytes",
    ),
    case(
        "jinja-extends",
        {"prompts/a.yaml": text("{% extends '_partials/base.jinja' %}"), "prompts/_partials/base.jinja": "base\n"},
        "prompts/a.yaml:1",
        "unsupported-tag",
        "extends/import are not supported",
    ),
    case(
        "jinja-import",
        {
            "prompts/a.yaml": text("{% import '_partials/m.jinja' as m %}hi"),
            "prompts/_partials/m.jinja": "{% macro x() %}x{% endmacro %}\n",
        },
        "prompts/a.yaml:1",
        "unsupported-tag",
        "extends/import are not supported",
    ),
    case(
        "jinja-from-import",
        {
            "prompts/a.yaml": text("{% from '_partials/m.jinja' import x %}hi"),
            "prompts/_partials/m.jinja": "{% macro x() %}x{% endmacro %}\n",
        },
        "prompts/a.yaml:1",
        "unsupported-tag",
        "extends/import are not supported",
    ),
    # --- Jinja syntax --------------------------------------------------------------------------------------
    case(
        "jinja-unclosed-print",
        {"prompts/a.yaml": block("first", "{{ x")},
        "prompts/a.yaml:3",
        "jinja-syntax",
        "expected 'end of print statement'",
    ),
    case(
        "jinja-unknown-tag",
        {"prompts/a.yaml": block("first", "second", "{% frobnicate %}")},
        "prompts/a.yaml:4",
        "jinja-syntax",
        "unknown tag 'frobnicate'",
    ),
    case(
        "jinja-unclosed-if",
        {"prompts/a.yaml": block("{% if true %}", "never closed")},
        "prompts/a.yaml:3",
        "jinja-syntax",
        "The innermost block that needs to be closed is 'if'",
    ),
    case(
        "jinja-loop-controls-not-enabled",
        {"prompts/a.yaml": text("{% for i in [1] %}{% break %}{% endfor %}")},
        "prompts/a.yaml:1",
        "jinja-syntax",
        "unknown tag 'break'",
    ),
    case(
        "jinja-syntax-in-partial",
        {
            "prompts/a.yaml": text("{% include '_partials/bad.jinja' %}"),
            "prompts/_partials/bad.jinja": "ok\n{% endfor %}\n",
        },
        "prompts/_partials/bad.jinja:2",
        "jinja-syntax",
        "unknown tag 'endfor'",
    ),
    case(
        "jinja-syntax-crlf-line-endings",
        {"prompts/a.yaml": ("# c\r\nprompt: |\r\n  one\r\n  two {{ x\r\n  three\r\n" + SKIP).encode()},
        "prompts/a.yaml:5",
        "jinja-syntax",
        "got 'three'",
    ),
    case(
        "jinja-deep-parentheses",
        {"prompts/a.yaml": text("{{ " + "(" * 120 + "1" + ")" * 120 + " }}")},
        "prompts/a.yaml:1",
        "jinja-syntax",
    ),
    case(
        "jinja-deep-if-blocks",
        {"prompts/a.yaml": text("{% if true %}" * 120 + "x" + "{% endif %}" * 120)},
        "prompts/a.yaml:1",
        "render-error",
    ),
    # --- template injection: the sandbox and the static checks refuse them; the canary proves nothing ran ------
    case(
        "inject-str-class-mro",
        {"prompts/a.yaml": text("{{ ''.__class__.__mro__ }}")},
        "prompts/a.yaml:1",
        "unsafe-template",
        "private or dunder attributes",
    ),
    case(
        "inject-cycler-init-globals",
        {"prompts/a.yaml": text("{{ cycler.__init__.__globals__.os.system('touch CANARY') }}")},
        "prompts/a.yaml:1",
        "unsafe-template",
        "private or dunder attributes",
    ),
    case(
        "inject-self-init-globals",
        {"prompts/a.yaml": text("{{ self.__init__.__globals__.__builtins__.open('CANARY', 'w') }}")},
        "prompts/a.yaml:1",
        "unsafe-template",
        "private or dunder attributes",
    ),
    case(
        "inject-lipsum-globals",
        {"prompts/a.yaml": text("{{ lipsum.__globals__.os.popen('touch CANARY').read() }}")},
        "prompts/a.yaml:1",
        "unsafe-template",
        "private or dunder attributes",
    ),
    case(
        "inject-namespace-globals-os",
        {"prompts/a.yaml": text("{{ namespace.__init__.__globals__.os.system('touch CANARY') }}")},
        "prompts/a.yaml:1",
        "unsafe-template",
        "private or dunder attributes",
    ),
    case(
        "inject-subclasses-popen",
        {
            "prompts/a.yaml": text(
                "{% for c in [].__class__.__base__.__subclasses__() %}"
                "{% if c.__name__ == 'Popen' %}{{ c(['touch', 'CANARY']) }}{% endif %}{% endfor %}"
            )
        },
        "prompts/a.yaml:1",
        "unsafe-template",
        "private or dunder attributes",
    ),
    case(
        "inject-config-items-undeclared",
        {"prompts/a.yaml": text("{{ config.items() }}")},
        "prompts/a.yaml:1",
        "undeclared-variable",
        "'config' is not defined",
    ),
    case(
        "inject-name-mangled-context",
        {"prompts/a.yaml": text("{{ self._TemplateReference__context.environment }}")},
        "prompts/a.yaml:1",
        "unsafe-template",
        "private or dunder attributes",
    ),
    case(
        "inject-dunder-in-partial",
        {
            "prompts/a.yaml": text("{% include '_partials/p.jinja' %}"),
            "prompts/_partials/p.jinja": "ok\n{{ ().__class__ }}\n",
        },
        "prompts/_partials/p.jinja:2",
        "unsafe-template",
        "private or dunder attributes",
    ),
    case(
        "inject-attr-filter",
        {"prompts/a.yaml": "# x\nprompt: \"{{ ''|attr('__class__') }}\"\n" + SKIP},
        "prompts/a.yaml:2",
        "render-error",
        "access to attribute '__class__' of 'str' object is unsafe",
    ),
    case(
        "inject-computed-getitem",
        {"prompts/a.yaml": text("{{ ''['__cla' ~ 'ss__'] }}")},
        "prompts/a.yaml:1",
        "unsafe-template",  # compiling folds the constant name, so the static check sees '__class__'
        "private or dunder attributes",
    ),
    # --- resource bombs the sandbox bounds -------------------------------------------------------------------
    case(
        "bomb-string-repeat",
        {"prompts/a.yaml": text("{{ 'a' * 10**9 }}")},
        "prompts/a.yaml:1",
        "render-error",
        "repetition too large",
    ),
    case(
        "bomb-power-tower",
        {"prompts/a.yaml": text("{{ 10 ** (10 ** 10) }}")},
        "prompts/a.yaml:1",
        "render-error",
        "power too large",
    ),
    case(
        "bomb-range",
        {"prompts/a.yaml": text("{{ range(10**9)|list }}")},
        "prompts/a.yaml:1",
        "render-error",
        "Range too big",
    ),
    case(
        "bomb-recursive-macro",
        {"prompts/a.yaml": text("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}")},
        "prompts/a.yaml:1",
        "render-error",
        "maximum recursion depth",
    ),
    # --- what Langfuse would misread ------------------------------------------------------------------------
    case(
        "raw-block-literal-braces",
        {"prompts/a.yaml": text("Say {% raw %}{{x}}{% endraw %} please")},
        "prompts/a.yaml:1:1",
        "literal-braces",
        "contains '{{x}}'",
    ),
    case(
        "string-literal-braces",
        {"prompts/a.yaml": text("Say {{ '{{' }}x{{ '}}' }} please")},
        "prompts/a.yaml:1:1",
        "literal-braces",
        "contains '{{x}}'",
    ),
    case(
        "undeclared-variable",
        {"prompts/a.yaml": block("hello", "{{ customer }}")},
        "prompts/a.yaml:3",
        "undeclared-variable",
        "'customer' is not defined",
    ),
    case(
        "runtime-variable-in-if",
        {"prompts/a.yaml": "prompt: '{% if who %}x{% endif %}'\nvariables:\n  who: {}\n" + SKIP},
        "prompts/a.yaml:1",
        "runtime-variable-in-logic",
        "an {% if %} condition",
    ),
    # --- names, labels ---------------------------------------------------------------------------------------
    case(
        "duplicate-names",
        {"prompts/a.yaml": "name: shared\nprompt: hi\n" + SKIP, "prompts/b.yaml": "name: shared\nprompt: hi\n" + SKIP},
        "prompts/b.yaml:1:1",
        "duplicate-name",
        "already used by prompts/a.yaml",
    ),
    case(
        "duplicate-names-yml-and-yaml",
        {"prompts/a.yml": "prompt: hi\n" + SKIP, "prompts/a.yaml": "prompt: hi\n" + SKIP},
        "prompts/a.yml:1:1",
        "duplicate-name",
        "already used by prompts/a.yaml",
    ),
    case(
        "reserved-name-from-path",
        {"prompts/new.yaml": "prompt: hi\n" + SKIP},
        "prompts/new.yaml:1:1",
        "invalid-name",
        "is reserved by Langfuse",
    ),
    case(
        "name-with-pipe",
        {"prompts/a.yaml": "name: a|b\nprompt: hi\n" + SKIP},
        "prompts/a.yaml:1:1",
        "invalid-name",
        "must not contain '|'",
    ),
    case(
        "name-only-spaces",
        {"prompts/a.yaml": "name: '  '\nprompt: hi\n" + SKIP},
        "prompts/a.yaml:1:1",
        "invalid-name",
        "must not be empty",
    ),
    case(
        "label-uppercase",
        {"prompts/a.yaml": "prompt: hi\nlabels: [Staging]\n" + SKIP},
        "prompts/a.yaml:2:10",
        "invalid-label",
        "must be lowercase",
    ),
    case(
        "label-production",
        {"prompts/a.yaml": "prompt: hi\nlabels: [production]\n" + SKIP},
        "prompts/a.yaml:2:10",
        "invalid-label",
        "is managed by promptops",
    ),
    # --- datasets and experiments ---------------------------------------------------------------------------
    case(
        "missing-dataset",
        {"prompts/a.yaml": "prompt: hi\nexperiment:\n  dataset: nowhere\n"},
        "prompts/a.yaml:3:3",
        "unknown-dataset",
        "dataset 'nowhere' does not exist",
    ),
    case(
        "dataset-name-path-escape",
        {"prompts/a.yaml": "prompt: hi\nexperiment: {dataset: ../../etc/passwd}\n"},
        "prompts/a.yaml:2:14",
        "unknown-dataset",
        "does not exist in prompts/datasets/",
    ),
    case(
        "missing-experiment",
        {"prompts/a.yaml": "prompt: hi\n"},
        "prompts/a.yaml:1:1",
        "missing-experiment",
        "add `experiment:`",
    ),
    case(
        "unknown-evaluator-kind",
        {
            "prompts/a.yaml": "prompt: hi\nexperiment:\n  dataset: d\n  evaluators: [{type: vibes}]\n",
            "prompts/datasets/d.yaml": "items:\n  - {id: a, input: {}}\n",
        },
        "prompts/a.yaml:4:16",
        "evaluator",
        "unknown evaluator kind 'vibes'",
    ),
    case(
        "dataset-jsonl-line-not-json",
        {"prompts/a.yaml": DATASET_USER, "prompts/datasets/d.jsonl": '{"id": "a", "input": {}}\n{id: b}\n'},
        "prompts/datasets/d.jsonl:2:2",
        "json-syntax",
        "invalid JSON",
    ),
    case(
        "dataset-jsonl-line-is-array",
        {"prompts/a.yaml": DATASET_USER, "prompts/datasets/d.jsonl": "[1, 2]\n"},
        "prompts/datasets/d.jsonl:1:1",
        "dataset-schema",
        "is not of type 'object'",
    ),
    case(
        "dataset-item-without-id",
        {"prompts/a.yaml": DATASET_USER, "prompts/datasets/d.yaml": "items:\n  - input: {q: x}\n"},
        "prompts/datasets/d.yaml:2:5",
        "dataset-schema",
        "'id' is a required property",
    ),
    case(
        "dataset-jsonl-item-without-id",
        {"prompts/a.yaml": DATASET_USER, "prompts/datasets/d.jsonl": '{"input": {}}\n'},
        "prompts/datasets/d.jsonl:1:1",
        "dataset-schema",
        "'id' is a required property",
    ),
    case(
        "dataset-duplicate-ids",
        {
            "prompts/a.yaml": DATASET_USER,
            "prompts/datasets/d.yaml": "items:\n  - {id: a, input: {}}\n  - {id: a, input: {}}\n",
        },
        "prompts/datasets/d.yaml:3",
        "duplicate-item-id",
        "item id 'a' is used again",
    ),
    case(
        "dataset-top-level-list",
        {"prompts/a.yaml": DATASET_USER, "prompts/datasets/d.yaml": "- {id: a, input: {}}\n"},
        "prompts/datasets/d.yaml:1:1",
        "dataset-schema",
        "the top level must be a mapping",
    ),
    case(
        "dataset-without-items",
        {"prompts/a.yaml": DATASET_USER, "prompts/datasets/d.yaml": "description: nothing\n"},
        "prompts/datasets/d.yaml:1:1",
        "dataset-schema",
        "'items' is a required property",
    ),
    case(
        "dataset-knowledge-doc-without-text",
        {"prompts/a.yaml": DATASET_USER, "prompts/datasets/d.yaml": "knowledge_base: [{id: k}]\nitems: []\n"},
        "prompts/datasets/d.yaml:1:18",
        "dataset-schema",
        "'text' is a required property",
    ),
    case(
        "dataset-binary",
        {"prompts/a.yaml": DATASET_USER, "prompts/datasets/d.jsonl": b"\x00\x00"},
        "prompts/datasets/d.jsonl:1",
        "binary-file",
        "NUL bytes",
    ),
    case(
        "dataset-yaml-syntax",
        {"prompts/a.yaml": DATASET_USER, "prompts/datasets/d.yaml": "items: [\n"},
        "prompts/datasets/d.yaml:2:1",
        "yaml-syntax",
        "did not find expected node content",
    ),
    case(
        "dataset-python-tag",
        {
            "prompts/a.yaml": DATASET_USER,
            "prompts/datasets/d.yaml": "items: !!python/object/apply:os.system [['touch CANARY']]\n",
        },
        "prompts/datasets/d.yaml:1:8",
        "yaml-tag",
    ),
    case(
        "dataset-missing-runtime-variable",
        {
            "prompts/a.yaml": "prompt: '{{ q }}'\nvariables: {q: {}}\nexperiment: {dataset: d}\n",
            "prompts/datasets/d.yaml": "items:\n  - {id: a, input: {}}\n",
        },
        "prompts/datasets/d.yaml:2",
        "dataset-missing-variable",
        "item 'a' has no input 'q'",
    ),
    # --- secrets ---------------------------------------------------------------------------------------------
    case(
        "secret-openai-key-in-prompt",
        {"prompts/a.yaml": "prompt: key sk-abcdefghijklmnopqrstuvwx\n" + SKIP},
        "prompts/a.yaml:1:13",
        "secret",
        "this looks like an OpenAI API key",
    ),
    case(
        "secret-aws-key-in-partial",
        {
            "prompts/a.yaml": text("{% include '_partials/p.jinja' %}"),
            "prompts/_partials/p.jinja": "id AKIAABCDEFGHIJKLMNOP\n",
        },
        "prompts/_partials/p.jinja:1:4",
        "secret",
        "AWS access key",
    ),
    # --- what a PR may show: regular files under prompts/ whose real path stays there; never .git/ or .env ------
    case(
        "symlink-sibling-to-git-config",
        {"prompts/leak.yaml": SKIP, ".git/config": "[http]\n  extraheader = AUTHORIZATION: basic STOLEN\n"},
        "prompts/leak.jinja",
        "symlink-escape",
        "outside the prompts folder",
        links={"prompts/leak.jinja": "../.git/config"},
    ),
    case(
        "symlink-prompt-to-ignored-env",
        {".env": "prompt: STOLEN\n", ".gitignore": ".env\n"},
        "prompts/env.yaml",
        "symlink-escape",
        "outside the prompts folder",
        links={"prompts/env.yaml": "../.env"},
    ),
    case(
        "symlink-dataset-to-ignored-secrets",
        {"prompts/a.yaml": DATASET_USER, "secrets.yaml": "items: [{id: STOLEN, input: {}}]\n"},
        "prompts/datasets/d.yaml",
        "symlink-escape",
        "outside the prompts folder",
        links={"prompts/datasets/d.yaml": "../../secrets.yaml"},
    ),
    case(
        "symlink-include-to-project-config",
        {"prompts/a.yaml": text("{% include '_partials/cfg.jinja' %}"), "promptops.local": "STOLEN\n"},
        "prompts/a.yaml:1",
        "include-not-found",
        "includes must stay inside the prompts folder",
        links={"prompts/_partials/cfg.jinja": "../../promptops.local"},
    ),
    case(
        "symlink-to-dotfile-inside-prompts",
        {"prompts/a.yaml": SKIP, "prompts/.secret.jinja": "STOLEN\n"},
        "prompts/a.jinja",
        "hidden-path",
        "never reads dot-files",
        links={"prompts/a.jinja": ".secret.jinja"},
    ),
    case(
        "prompts-dir-root-include-git-config",
        {"a.yaml": text("{% include '.git/config' %}"), ".git/config": "[core]\n# STOLEN\n"},
        "a.yaml:1",
        "include-not-found",
        "never reads dot-files",
        config="prompts_dir: .\n",
    ),
    case(
        "prompts-dir-root-link-to-env",
        {"a.yaml": SKIP, ".env": "STOLEN=1\n"},
        "a.jinja",
        "hidden-path",
        "never reads dot-files",
        config="prompts_dir: .\n",
        links={"a.jinja": ".env"},
    ),
    case(
        "prompts-dir-root-link-to-untracked-file",
        {"a.yaml": SKIP},
        "a.jinja",
        "untracked-file",
        "reads only files git tracks",
        config="prompts_dir: .\n",
        links={"a.jinja": "./secrets.txt"},
        git=True,
        untracked={"secrets.txt": "STOLEN\n"},
    ),
    # --- only regular files are read: a FIFO (or socket, device) is a diagnostic and never blocks -------------
    case("fifo-prompt-file", {}, "prompts/a.yaml", "not-a-file", "a FIFO (named pipe)", fifos=("prompts/a.yaml",)),
    case(
        "fifo-sibling-template",
        {"prompts/a.yaml": SKIP},
        "prompts/a.jinja",
        "not-a-file",
        "a FIFO (named pipe)",
        fifos=("prompts/a.jinja",),
    ),
    case(
        "fifo-dataset",
        {"prompts/a.yaml": DATASET_USER},
        "prompts/datasets/d.jsonl",
        "not-a-file",
        "a FIFO (named pipe)",
        fifos=("prompts/datasets/d.jsonl",),
    ),
    case(
        "fifo-partial",
        {"prompts/a.yaml": text("{% include '_partials/p.jinja' %}")},
        "prompts/a.yaml:1",
        "include-not-found",
        "a FIFO (named pipe)",
        fifos=("prompts/_partials/p.jinja",),
    ),
    case(
        "link-to-dev-zero",
        {"prompts/a.yaml": SKIP},
        "prompts/a.jinja",
        "symlink-escape",
        "outside the prompts folder",
        links={"prompts/a.jinja": "/dev/zero"},
    ),
    # --- every error the Jinja compiler or a malformed include name raises is a diagnostic at file:line ---------
    case(
        "include-name-with-nul",
        {"prompts/a.yaml": text("{% include '_partials/x.jinja\x00..' %}")},
        "prompts/a.yaml:1",
        "include-not-found",
        "U+0000",
    ),
    case(
        "include-component-too-long",
        {"prompts/a.yaml": block("x", "{% include '_partials/" + "a" * 300 + ".jinja' %}")},
        "prompts/a.yaml:3",
        "include-not-found",
        "as short paths",
    ),
    case(
        "jinja-unknown-filter",
        {"prompts/a.yaml": block("x", "{{ 'x' | no_such_filter }}")},
        "prompts/a.yaml:3",
        "jinja-syntax",
        "No filter named 'no_such_filter'",
    ),
    case(
        "jinja-unknown-test",
        {"prompts/a.yaml": text("{{ 'x' is no_such_test }}")},
        "prompts/a.yaml:1",
        "jinja-syntax",
        "No test named 'no_such_test'",
    ),
    case(
        "jinja-unknown-filter-in-partial",
        {"prompts/a.yaml": text("{% include '_partials/p.jinja' %}"), "prompts/_partials/p.jinja": "a\n{{ 1|nope }}\n"},
        "prompts/_partials/p.jinja:2",
        "jinja-syntax",
        "No filter named 'nope'",
    ),
    case(
        "dataset-name-with-nul",
        {"prompts/a.yaml": 'prompt: hi\nexperiment: {dataset: "d\\0x"}\n'},
        "prompts/a.yaml:2:14",
        "unknown-dataset",
        "does not exist",
    ),
    case(
        "dataset-name-too-long",
        {"prompts/a.yaml": "prompt: hi\nexperiment: {dataset: " + "d" * 300 + "}\n"},
        "prompts/a.yaml:2:14",
        "unknown-dataset",
        "does not exist",
    ),
    # --- names Langfuse, a terminal or a CI log cannot carry: control and bidirectional characters -------------
    case(
        "name-with-newline-workflow-command",
        {"prompts/a.yaml": 'name: "x\\n::error file=INJECTED::injected"\nprompt: hi\n' + SKIP},
        "prompts/a.yaml:1:1",
        "invalid-name",
        "U+000A",
    ),
    case(
        "name-with-bidi-override",
        {"prompts/a.yaml": 'name: "admin\\u202etxt.exe"\nprompt: hi\n' + SKIP},
        "prompts/a.yaml:1:1",
        "invalid-name",
        "U+202E (RIGHT-TO-LEFT OVERRIDE)",
    ),
    case(
        "name-with-nul",
        {"prompts/a.yaml": 'name: "a\\0b"\nprompt: hi\n' + SKIP},
        "prompts/a.yaml:1:1",
        "invalid-name",
        "U+0000",
    ),
    case(
        "file-name-with-newline",
        {"prompts/x\n::error file=INJECTED::injected.yaml": "prompt: hi\n" + SKIP},
        "prompts/x\\n::error file=INJECTED::injected.yaml",
        "invalid-path",
        "U+000A",
    ),
    case(
        "evaluator-name-with-newline",
        {
            "prompts/a.yaml": "prompt: hi\nexperiment:\n  dataset: d\n"
            + '  evaluators: [{type: exact_match, name: "m\\n::error::x"}]\n',
            "prompts/datasets/d.yaml": "items:\n  - {id: a, input: {}}\n",
        },
        "prompts/a.yaml:4:16",
        "evaluator",
        "U+000A",
    ),
    case(
        "tag-with-escape-character",
        {"prompts/a.yaml": 'prompt: hi\ntags: ["ok", "\\e[31mred"]\n' + SKIP},
        "prompts/a.yaml:2:14",
        "invalid-tag",
        "U+001B",
    ),
    case(
        "dataset-item-id-with-carriage-return",
        {"prompts/a.yaml": DATASET_USER, "prompts/datasets/d.yaml": 'items:\n  - {id: "a\\r::error::x", input: {}}\n'},
        "prompts/datasets/d.yaml:2",
        "invalid-item-id",
        "U+000D",
    ),

    # --- bounded time and memory on any input: aliases of any kind, fan-out, too many values -----------------
    case(
        "yaml-scalar-alias-bomb",
        {"prompts/a.yaml": "x: &a " + "y" * 400_000 + "\nprompt: hi\ntags: [" + ", ".join(["*a"] * 150_000) + "]\n"},
        "prompts/a.yaml:3:8",
        "yaml-alias",
        "YAML aliases (*name) are not supported",
    ),
    case(
        "yaml-scalar-alias-small-file",
        {"prompts/a.yaml": "description: &d hello\nname: *d\nprompt: hi\n" + SKIP},
        "prompts/a.yaml:2:7",
        "yaml-alias",
        "YAML aliases (*name) are not supported",
    ),
    case(
        "yaml-alias-as-key",
        {"prompts/a.yaml": "prompt: hi\nconfig: {&k a: 1, *k : 2}\n" + SKIP},
        "prompts/a.yaml:2:19",
        "yaml-alias",
        "YAML aliases (*name) are not supported",
    ),
    case(
        "dataset-scalar-aliases",
        {
            "prompts/a.yaml": DATASET_USER,
            "prompts/datasets/d.yaml": "big: &big " + "z" * 1000 + "\nitems:\n"
            + "".join(f"  - {{id: i{i}, input: {{q: *big}}}}\n" for i in range(100)),
        },
        "prompts/datasets/d.yaml:3",
        "yaml-alias",
        "YAML aliases (*name) are not supported",
    ),
    case(
        "yaml-too-many-values",
        {"prompts/a.yaml": "prompt: hi\n" + SKIP + "tags: [" + ",".join(["1"] * 300_000) + "]\n"},
        "prompts/a.yaml:3",
        "yaml-too-large",
        "more than 250,000 values",
    ),
    case(
        "dataset-jsonl-too-many-items",
        {"prompts/a.yaml": DATASET_USER, "prompts/datasets/d.jsonl": "{}\n" * 60_000},
        "prompts/datasets/d.jsonl:1:1",
        "dataset-too-large",
        "more than 50,000 entries",
    ),
    case(
        "dataset-yaml-too-many-items",
        {"prompts/a.yaml": DATASET_USER, "prompts/datasets/d.yaml": "items:\n" + "- {}\n" * 50_001},
        "prompts/datasets/d.yaml:1:1",
        "dataset-too-large",
        "more than 50,000 entries",
    ),
    case(
        "schema-problems-are-capped",
        {"prompts/a.yaml": "prompt: hi\n" + SKIP + "tags: [" + ", ".join(["[1]"] * 100_000) + "]\n"},
        "prompts/a.yaml:1:1",
        "schema",
        "more than 50 problems in this file",
    ),
    case(
        "include-fan-out",
        {
            "prompts/a.yaml": text("{% include '_partials/p0.jinja' %}"),
            **{
                f"prompts/_partials/p{i}.jinja": f"{{% include '_partials/p{i + 1}.jinja' %}}" * 6 + "\n"
                for i in range(9)
            },
            "prompts/_partials/p9.jinja": "leaf\n",
        },
        "prompts/a.yaml:1",
        "render-error",
        "took longer than 1 s to render",
    ),
    case(
        "include-cycle-with-fan-out",
        {
            "prompts/a.yaml": text("{% include '_partials/p.jinja' %}"),
            "prompts/_partials/p.jinja": "{% include '_partials/q.jinja' %}" * 6 + "\n",
            "prompts/_partials/q.jinja": "{% include '_partials/p.jinja' %}" * 6 + "\n",
        },
        "prompts/_partials/q.jinja:1",
        "include-cycle",
        "_partials/p.jinja → _partials/q.jinja → _partials/p.jinja",
    ),
    case(
        "experiment-too-many-runs",
        {
            "prompts/a.yaml": "prompt: hi\nexperiment:\n  dataset: d\n  repeats: 100\n"
            + "  evaluators: [{type: exact_match}]\n",
            "prompts/datasets/d.jsonl": '{"id": "x%d", "input": {}}\n' * 0
            + "".join(f'{{"id": "x{i}", "input": {{}}}}\n' for i in range(2000)),
        },
        "prompts/a.yaml:4:3",
        "experiment-too-large",
        "200,000 item runs",
    ),
    case(
        "experiment-timeout-unbounded",
        {"prompts/a.yaml": "prompt: hi\nexperiment: {dataset: d, total_timeout_s: 1000000000}\n"},
        "prompts/a.yaml:2",
        "schema",
        "is greater than the maximum of 21600",
    ),
]


def build(tmp_path: Path, bad: Case) -> tuple[Path, Path]:
    """Create the case's repository below tmp_path; return the repository root and the canary path."""
    canary = tmp_path / "canary"
    outside = tmp_path / "outside"
    outside.mkdir()
    for name, content in bad.outside.items():
        (outside / name).write_text(content, "utf-8")
    files = {p: c.replace("CANARY", str(canary)) if isinstance(c, str) else c for p, c in bad.files.items()}
    root = make_project(tmp_path / "repo", files)
    if bad.config:
        (root / "promptops.yaml").write_text(bad.config, "utf-8")
    for link, target in bad.links.items():
        path = root / link
        path.parent.mkdir(parents=True, exist_ok=True)
        if target == "LOOP":
            path.symlink_to(path.name)
        else:
            path.symlink_to(target if target.startswith(".") else outside / target)
    for fifo in bad.fifos:
        (root / fifo).parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(root / fifo)
    if bad.git:
        git_init(root)
    write_files(root, dict(bad.untracked))
    return root, canary


def matches(line: str, bad: Case) -> bool:
    """Return whether a diagnostic line is at `bad.where` with `bad.code` and mentions `bad.message`."""
    found = DIAGNOSTIC.match(line)
    if found is None:
        return False
    loc = found["loc"]
    at = loc == bad.where or loc.startswith(bad.where + ":")
    return at and found["severity"] == "error" and found["code"] == bad.code and bad.message in found["message"]


@pytest.mark.parametrize("bad", CORPUS)
def test_broken_repository_is_reported_not_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: Case
) -> None:
    monkeypatch.setenv("PROMPTOPS_HOME", str(tmp_path / "home"))  # where a crash log would go
    root, canary = build(tmp_path, bad)
    run = run_cli(capsys, "--project", str(root), "validate")
    assert "Traceback" not in run.out + run.err
    assert not canary.exists(), "a payload ran"
    assert not (tmp_path / "home").exists(), run.err  # no crash log: every problem is a diagnostic
    assert run.code == 1, run.out + run.err
    lines = run.out.splitlines()
    assert [line for line in lines if not DIAGNOSTIC.match(line)] == [], "one diagnostic per line"
    assert any(matches(line, bad) for line in lines), run.out
    assert SUMMARY.match(run.err.strip()), run.err
    assert "STOLEN" not in run.out + run.err  # nothing from outside the repository is read into a message


def test_corpus_is_large_and_distinct() -> None:
    ids = [param.id for param in CORPUS]  # type: ignore[attr-defined]
    assert len(ids) >= 40 and len(set(ids)) == len(ids)
    contents = [  # type: ignore[attr-defined]
        repr((sorted(p.values[0].files.items()), p.values[0].links, p.values[0].fifos, p.values[0].config))
        for p in CORPUS
    ]
    assert len(set(contents)) == len(contents)


def test_left_associative_power_is_harmless(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # Jinja's ** is left-associative: 10 ** 10 ** 10 is (10 ** 10) ** 10 = 10**100, a valid constant
    # (Python would read it as 10 ** (10 ** 10), which is the bomb in the corpus).
    root = make_project(tmp_path / "repo", {"prompts/a.yaml": text("{{ 10 ** 10 ** 10 }}")})
    run = run_cli(capsys, "--project", str(root), "validate")
    assert (run.code, run.out) == (0, "")
    assert run.err == "ok: 0 error(s), 0 warning(s) in 1 prompt(s) and 0 dataset(s)\n"


def test_prompts_dir_root_reads_only_what_git_tracks(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # With prompts_dir ".", the prompts folder is the whole checkout: CI's own files and untracked YAML are not
    # the PR's, so they are not read (a warning says so), and the configuration is not a prompt.
    root = make_project(tmp_path / "repo", {"a.yaml": "prompt: hi\n" + SKIP, ".gitignore": "secrets.yaml\n"})
    (root / "promptops.yaml").write_text("prompts_dir: .\n", "utf-8")
    git_init(root)
    write_files(root, {"secrets.yaml": f"prompt: STOLEN\n{SKIP}", "notes.yaml": "prompt: STOLEN\n" + SKIP})
    run = run_cli(capsys, "--project", str(root), "validate")
    assert run.code == 0, run.out + run.err
    assert run.out.splitlines() == [
        "notes.yaml: warning[untracked-file]: not read: with prompts_dir '.', promptops reads only files git tracks "
        "(`git add` it)",
        "secrets.yaml: warning[untracked-file]: not read: with prompts_dir '.', promptops reads only files git "
        "tracks (`git add` it)",
    ]
    assert run.err == "0 error(s), 2 warning(s) in 1 prompt(s) and 0 dataset(s)\n"
    rendered = run_cli(capsys, "--project", str(root), "render", "a")
    assert (rendered.code, rendered.out) == (0, "hi\n")


@pytest.mark.parametrize(
    ("config", "link", "expected"),
    [
        ("prompts_dir: /\n", None, "prompts_dir '/' must be a relative path inside the project"),
        ("prompts_dir: ../outside\n", None, "prompts_dir '../outside' must be a relative path inside the project"),
        ("prompts_dir: prompts/../..\n", None, "must be a relative path inside the project"),
        ("prompts_dir: .git\n", None, "prompts_dir '.git' must be a relative path inside the project, not in a dot"),
        ("registry_path: /tmp/elsewhere.db\n", None, "registry_path '/tmp/elsewhere.db' must be a relative path"),
        ("prompts_dir: linked\n", "outside", "the prompts folder linked is a link to"),
        ("prompts_dir: linked\n", "repo/.git", "it must stay inside the project and out of dot-folders"),
    ],
)
def test_configured_paths_cannot_leave_the_project(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, config: str, link: str | None, expected: str
) -> None:
    # The configuration is in the PR too: `prompts_dir: /` would make {% include 'proc/self/environ' %} legal.
    root = make_project(tmp_path / "repo", {"prompts/a.yaml": text("{% include 'proc/self/environ' %}")})
    write_files(
        tmp_path, {"outside/a.yaml": text("{% include '../outside/secret.txt' %}"), "outside/secret.txt": STOLEN}
    )
    (root / ".git").mkdir()
    (root / "promptops.yaml").write_text(config, "utf-8")
    if link:
        (root / "linked").symlink_to(tmp_path / link)
    for command in (("validate",), ("render", "a")):
        run = run_cli(capsys, "--project", str(root), *command)
        assert run.code == 1, run.out + run.err
        assert run.out == ""
        assert expected in run.err and "Traceback" not in run.err and STOLEN not in run.err



def test_recorded_responses_are_read_like_every_file_of_a_pr(tmp_path: Path) -> None:
    # Recordings live in the repository (prompts/_responses), so a PR can commit a FIFO or a link to a secret.
    from promptops.errors import ModelError
    from promptops.responses import ResponseStore

    store = ResponseStore(tmp_path / "prompts" / "_responses", root=tmp_path)
    (tmp_path / "outside.json").write_text('{"format": 1, "key": "k", "text": "STOLEN"}', "utf-8")
    folder = store.path("p", "a" * 64).parent
    folder.mkdir(parents=True)
    os.mkfifo(store.path("p", "a" * 64))
    store.path("p", "b" * 64).symlink_to(tmp_path / "outside.json")
    for key in ("a" * 64, "b" * 64):
        with pytest.raises(ModelError, match="it must be a regular file of at most 16,777,216 bytes inside"):
            store.get("p", key)
    assert store.entries("p") == []  # skipped, never blocking on the FIFO


# --- resource bombs: in a child process with 512 MiB of memory and 2 s of CPU, so a miss cannot hang CI ---

BOMBS = [
    pytest.param("{{ '%999999999s' % 'x' }}", id="percent-format-width"),
    pytest.param("{{ 'x'|center(999999999) }}", id="center-filter"),
    pytest.param("{{ '{:999999999}'.format('x') }}", id="format-width"),
    pytest.param(
        "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
        id="nested-range-loops",
    ),
    pytest.param("{{ (((9 ** 100) ** 100) ** 100) ** 100 }}", id="power-chain"),
    # Widths that come from `*` and nested fields, and sizes that multiply: every operation is bounded, not a list.
    pytest.param("{{ '%*d' % (1500000000, 1) }}", id="percent-star-width"),
    pytest.param("{{ '%*d'|format(1500000000, 1) }}", id="format-filter-star-width"),
    pytest.param("{{ '{:>{w}}'.format('x', w=1500000000) }}", id="format-nested-width"),
    pytest.param("{{ '{w:>{w}}'.format_map({'w': 1500000000}) }}", id="format-map-nested-width"),
    pytest.param("{{ ('%9999s' * 14000) % ((1,) * 14000) }}", id="percent-many-fields"),
    pytest.param("{{ ('{:9999}' * 10000).format(*range(10000)) }}", id="format-many-fields"),
    pytest.param("{{ ('\t' * 99999).expandtabs(9999) }}", id="expandtabs-width-times-length"),
    pytest.param("{{ ('x\n' * 50000)|indent(9999) }}", id="indent-width-times-lines"),
    pytest.param("{{ ('x\n' * 50000)|indent('y' * 9999) }}", id="indent-string-times-lines"),
    pytest.param("{{ ('x' * 99999).replace('x', 'y' * 99999) }}", id="replace-method"),
    pytest.param("{{ ('x' * 99999)|replace('x', 'y' * 99999) }}", id="replace-filter"),
    pytest.param("{{ ('y' * 99999).join(['a'] * 99999) }}", id="join-method"),
    pytest.param("{{ (['y' * 99999] * 99999)|join }}", id="join-filter-shared-items"),
    pytest.param("{{ ('a' * 99999).translate({97: 'y' * 99999}) }}", id="translate-table"),
    pytest.param("{{ ('a ' * 49999)|wordwrap(1, wrapstring='y' * 99999) }}", id="wordwrap-wrapstring"),
    pytest.param("{{ ('x.com ' * 16000)|urlize(target='t' * 99999) }}", id="urlize-target"),
    pytest.param("{{ (['x'] * 99999)|map('center', 9999)|join }}", id="map-center-join"),
    pytest.param("{% set s = 'x' * 99999 %}{{ [s] * 99999 }}", id="print-list-of-shared-strings"),
    pytest.param("{% set s = 'x' * 99999 %}{{ ([s] * 99999)|string }}", id="string-filter-of-shared-list"),
    pytest.param("{% set s = 'x' * 99999 %}{{ ([s] * 99999) is lower }}", id="test-of-shared-list"),
    pytest.param("{% set s = 'x' * 99999 %}{{ ([s] * 1000)|tojson(9999) }}", id="tojson-indent"),
    pytest.param("{% set a = ['x' * 99999] * 999 %}{% set b = [a] * 999 %}{{ [b] * 999 }}", id="nested-shared-lists"),
    pytest.param("{{ {}.fromkeys(range(99999), 'x' * 99999) }}", id="dict-fromkeys-shared-value"),
    pytest.param(
        "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
        id="doubling-by-concat",
    ),
    pytest.param(
        "{% set ns = namespace(s=['x']) %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
        id="doubling-by-plus",
    ),
    pytest.param(
        "{% set ns = namespace(n=10) %}{% for i in range(60) %}{% set ns.n = ns.n * ns.n %}{% endfor %}{{ ns.n }}",
        id="squaring-integers",
    ),
    pytest.param(
        "{% macro m() %}{% for i in range(99999) %}{{ 'x' * 99999 }}{% endfor %}{% endmacro %}{{ m()|length }}",
        id="macro-buffer-of-outputs",
    ),
    pytest.param(
        "{% macro m() %}{% for i in range(99999) %}" + "A" * 50_000 + "{% endfor %}{% endmacro %}{{ m()|length }}",
        id="macro-buffer-of-template-data",
    ),
    pytest.param(
        "{% set x %}{% for i in range(99999) %}{{ 'y' * 99999 }}{% endfor %}{% endset %}{{ x|length }}",
        id="set-block-buffer",
    ),
    pytest.param(
        "{% filter upper %}{% for i in range(99999) %}{{ 'y' * 99999 }}{% endfor %}{% endfilter %}",
        id="filter-block-buffer",
    ),
    pytest.param("{% set s = 'x' * 99999 %}{% for i in range(99999) %}{{ s }}{% endfor %}", id="top-level-output-loop"),
]


def _limits() -> None:  # runs in the child before exec
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (512 << 20, 512 << 20))
    resource.setrlimit(resource.RLIMIT_CPU, (2, 2))


@pytest.mark.skipif(sys.platform != "linux", reason="uses Linux resource limits")
@pytest.mark.parametrize("template", BOMBS)
def test_resource_bomb_is_refused_within_limits(tmp_path: Path, template: str) -> None:
    root = make_project(tmp_path / "repo", {"prompts/a.yaml": text(template)})
    env = {**os.environ, "PROMPTOPS_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "promptops", "--project", str(root), "validate"],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=_limits,
        timeout=60,
    )
    assert "Traceback" not in done.stdout + done.stderr
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("prompts/a.yaml:1:1: error[render-error]: "), done.stdout
    # Refused by a bound, before the allocation: not a MemoryError that only the child's limit caused.
    assert "refused by the sandbox" in done.stdout or "rendered text is longer than" in done.stdout, done.stdout


# --- hostile pull requests: what validate accepts but check and sync run -------------------------------------
#
# Each case is a pull request on top of the example prompts: files it adds or changes (Python modules next to the
# prompts are importable, as on a CI runner with PYTHONPATH=.), symlinks it commits, and files the checkout holds
# that the PR did not write (an ignored .env, git's own config with a token). `check` runs as the composite action
# runs it (`--format github --report`, a step summary), with secret keys in the environment, then `sync` on the same
# head. Every case must end the same way: check exits 1 with a report that says why, sync never exits 0 part-way,
# no traceback, no canary file, and neither secret nor stolen text in any output, report, summary or crash log.

LANGFUSE_SECRET = "lfsecret-canary-7f3a9c21d4e8b6"  # matches no credential pattern: only masking by value hides it
OPENAI_SECRET = "oaisecret-canary-91b2c3d4e5f6a7"
STOLEN = "STOLEN-canary-5d1e"  # the text of files outside what the PR may show
ITEMS_FAILED = "the candidate run stopped early (failure threshold)"  # every item failed: the run was stopped
CAPITAL_TEXT = "  Question: What is the capital of {{ country }}?\n"


def capital(*, evaluators: str = "", task: str = "", text: str = "Answer briefly.") -> str:
    """Return prompts/capital-cities.yaml changed by a PR: a new first line, and extra evaluators or a task."""
    source = (EXAMPLE_PROMPTS / "capital-cities.yaml").read_text("utf-8")
    source = source.replace(CAPITAL_TEXT, f"  {text}\n{CAPITAL_TEXT}")
    if evaluators:
        source = source.replace("  evaluators:\n", f"  evaluators:\n{evaluators}")
    if task:
        source = source.replace("  model: mock-llm-v1\n", f"  model: mock-llm-v1\n  task: {task}\n")
    return source


@dataclass(frozen=True)
class PullRequest:
    """A hostile pull request and what check's report must say about it (`expect`)."""

    files: dict[str, str | bytes]
    expect: str
    links: dict[str, str] = field(default_factory=dict)  # path in the PR -> link target, as git stores it
    sync_code: int = 1


def pull_request(name: str, files: dict[str, str | bytes], expect: str, **options: Any) -> object:
    """Return a pytest param for a hostile pull request."""
    return pytest.param(PullRequest(files, expect, **options), id=name)


def _module(body: str) -> str:
    return textwrap.dedent(body).lstrip("\n")


PULL_REQUESTS = [
    # --- user code that raises BaseException: a failure of the item or the run, never our exit code -------------
    pull_request(
        "evaluator-sys-exit",  # sys.exit itself, under a name of the PR's
        {
            "hostile_sys.py": "from sys import exit\n",
            "prompts/capital-cities.yaml": capital(evaluators='    - {type: "hostile_sys:exit", name: quit}\n'),
        },
        ITEMS_FAILED,
    ),
    pull_request(
        "evaluator-raises-systemexit-zero",
        {
            "hostile_exit_eval.py": _module(
                """
                def score(output):
                    raise SystemExit(0)
                """
            ),
            "prompts/capital-cities.yaml": capital(evaluators='    - {type: "hostile_exit_eval:score", name: quit}\n'),
        },
        ITEMS_FAILED,
    ),
    pull_request(
        "evaluator-raises-keyboardinterrupt",
        {
            "hostile_kbd_eval.py": _module(
                """
                def score(output):
                    raise KeyboardInterrupt("not a real Ctrl-C")
                """
            ),
            "prompts/capital-cities.yaml": capital(evaluators='    - {type: "hostile_kbd_eval:score", name: kbd}\n'),
        },
        ITEMS_FAILED,
    ),
    pull_request(
        "evaluator-raises-cancellederror",
        {
            "hostile_cancel_eval.py": _module(
                """
                import asyncio

                async def score(output):
                    raise asyncio.CancelledError()
                """
            ),
            "prompts/capital-cities.yaml": capital(
                evaluators='    - {type: "hostile_cancel_eval:score", name: cancel}\n'
            ),
        },
        ITEMS_FAILED,
    ),
    pull_request(
        "task-raises-systemexit-in-thread",
        {
            "hostile_exit_task.py": _module(
                """
                def run(input, call_model):
                    raise SystemExit(0)
                """
            ),
            "prompts/capital-cities.yaml": capital(task="hostile_exit_task:run"),
        },
        ITEMS_FAILED,
    ),
    pull_request(
        "async-task-raises-generatorexit",
        {
            "hostile_genexit_task.py": _module(
                """
                async def run(input, call_model):
                    raise GeneratorExit("bye")
                """
            ),
            "prompts/capital-cities.yaml": capital(task="hostile_genexit_task:run"),
        },
        ITEMS_FAILED,
    ),
    pull_request(
        "module-exits-at-import",
        {
            "hostile_import_exit.py": "raise SystemExit(0)\n",
            "prompts/capital-cities.yaml": capital(evaluators='    - {type: "hostile_import_exit:f", name: f}\n'),
        },
        "cannot import 'hostile_import_exit': SystemExit: 0",
    ),
    pull_request(
        "retriever-raises-systemexit",
        {
            "hostile_retriever.py": _module(
                """
                def find(question, knowledge_base):
                    raise SystemExit(0)
                """
            ),
            "prompts/support-agent.yaml": (EXAMPLE_PROMPTS / "support-agent.yaml")
            .read_text("utf-8")
            .replace("  task: rag\n", "  task: rag\n  retriever: hostile_retriever:find\n")
            .replace("Question: {{ question }}", "Question (answer briefly): {{ question }}"),
        },
        ITEMS_FAILED,
    ),
    # --- secrets in the environment: masked by value in every output, report, trace and stored version -------
    pull_request(
        "task-prints-and-returns-secrets",
        {
            "hostile_leaky_task.py": _module(
                """
                import os, sys

                def run(input, call_model):
                    secrets = os.environ["LANGFUSE_SECRET_KEY"] + " " + os.environ["OPENAI_API_KEY"]
                    print("stdout:", secrets)
                    print("stderr:", secrets, file=sys.stderr)
                    answer = call_model()
                    return secrets if "{" in answer else answer  # the candidate's answers are JSON
                """
            ),
            "prompts/capital-cities.yaml": capital(task="hostile_leaky_task:run", text="Answer in JSON.").replace(
                "  primary: exact_match", "  primary: mentions_capital"
            ),
        },
        "[REDACTED LANGFUSE_SECRET_KEY] [REDACTED OPENAI_API_KEY]",
    ),
    pull_request(
        "evaluator-raises-with-secrets",
        {
            "hostile_leaky_eval.py": _module(
                """
                import os

                def score(output):
                    if "{" in output:
                        raise ValueError(os.environ["OPENAI_API_KEY"] + " for jane.doe@example.com")
                    return True
                """
            ),
            "prompts/capital-cities.yaml": capital(
                evaluators='    - {type: "hostile_leaky_eval:score", name: leak}\n', text="Answer in JSON."
            ),
        },
        "[REDACTED OPENAI_API_KEY] for [REDACTED email]",
    ),
    # --- workflow-command injection: data from the PR printed at the start of a log line ------------------------
    pull_request(
        "item-id-is-a-workflow-command",
        {
            "prompts/datasets/capital-cities-tutorial.yaml": (
                EXAMPLE_PROMPTS / "datasets" / "capital-cities-tutorial.yaml"
            )
            .read_text("utf-8")
            .replace("{id: france,", '{id: "::warning::INJECTED",'),
            "hostile_worse_task.py": _module(
                """
                def run(input, call_model):
                    answer = call_model()
                    return "no idea" if "{" in answer else answer  # the candidate's answers are JSON
                """
            ),
            "prompts/capital-cities.yaml": capital(task="hostile_worse_task:run", text="Answer in JSON.").replace(
                "  primary: exact_match", "  primary: mentions_capital"
            ),
        },
        "::warning::INJECTED",
    ),
    pull_request(
        "task-module-exits-at-import",
        {
            "hostile_task_import.py": "raise SystemExit(0)\n",
            "prompts/capital-cities.yaml": capital(task="hostile_task_import:run"),
        },
        "task hostile_task_import:run: SystemExit: 0",
    ),
    # --- links a PR commits to what the checkout holds but the PR did not write -----------------------------
    pull_request(
        "link-to-git-config-with-the-token",
        {"prompts/leak.yaml": "experiment: {skip: leak}\n"},
        "outside the prompts folder",
        links={"prompts/leak.jinja": "../.git/config"},
    ),
    pull_request(
        "dataset-linked-to-an-ignored-env-file",
        {"prompts/capital-cities.yaml": capital(text="Answer briefly.")},
        "outside the prompts folder",
        links={"prompts/datasets/leak.jsonl": "../../.env"},
    ),
]


def executed_commands(log: str) -> list[str]:
    """Return the commands (name and properties) GitHub's runner would execute in a step's log.

    Like the runner (ActionCommand.TryParseV2): a line is a command when, leading spaces trimmed, it starts with
    `::` and has a second `::`; between `::stop-commands::TOKEN` and `::TOKEN::` nothing is executed.
    """
    stopped, found = None, []
    for line in log.splitlines():
        text = line.lstrip()
        if stopped is not None:
            stopped = None if text == f"::{stopped}::" else stopped
            continue
        if not text.startswith("::") or "::" not in text[2:]:
            continue
        command, _, data = text[2:].partition("::")
        if command.split(" ", 1)[0] == "stop-commands":
            stopped = data
        else:
            found.append(command)
    return found


def _dump(database: Path) -> str:
    """Return every row of a SQLite file as SQL text ('' when there is none)."""
    if not database.exists():
        return ""
    with sqlite3.connect(database) as db:
        return "\n".join(db.iterdump())


def _open_pull_request(tmp_path: Path, pr: PullRequest) -> Path:
    """Return the checkout of a PR branch: the example prompts on main, the PR's commit on top."""
    root = make_project(tmp_path / "repo", {".gitignore": ".env\nsecrets.yaml\n.promptops/\n"}, examples=True)
    git_init(root)
    git(root, "checkout", "-qb", "pr")
    write_files(root, dict(pr.files))
    for link, target in pr.links.items():
        (root / link).parent.mkdir(parents=True, exist_ok=True)
        (root / link).symlink_to(target)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "A pull request")
    # What the runner's checkout holds that the PR did not write: ignored secrets, and the token checkout persists.
    (root / ".env").write_text(f"LANGFUSE_SECRET_KEY={LANGFUSE_SECRET}\n# {STOLEN}\n", "utf-8")
    (root / "secrets.yaml").write_text(f"prompt: {STOLEN}\nexperiment: {{skip: x}}\n", "utf-8")
    git(root, "config", "http.extraheader", f"AUTHORIZATION: basic {STOLEN}")
    return root


@pytest.mark.parametrize("pr", PULL_REQUESTS)
def test_hostile_pull_request_fails_the_gate_and_leaks_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pr: PullRequest
) -> None:
    root = _open_pull_request(tmp_path, pr)
    for key in ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_BASE_URL", "LANGFUSE_HOST"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", LANGFUSE_SECRET)  # no public key: the local registry, as in a fork
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_SECRET)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")  # as on a runner, which reads workflow commands in the log
    monkeypatch.setenv("PROMPTOPS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(root)
    monkeypatch.syspath_prepend(str(root))
    for module in [m for m in sys.modules if m.startswith("hostile_")]:
        monkeypatch.delitem(sys.modules, module)
    checked = run_cli(capsys, "check", "--base", "main", "--format", "github", "--report", "report.md")
    report = (root / "report.md").read_text("utf-8") if (root / "report.md").exists() else ""
    synced = run_cli(capsys, "sync")
    crash = tmp_path / "home" / "promptops-crash.log"
    everything = "\n".join(
        [checked.out, checked.err, synced.out, synced.err, report]
        + [p.read_text("utf-8") for p in (tmp_path / "summary.md", crash) if p.exists()]
        + [_dump(root / ".promptops" / name) for name in ("registry.db", "runs.db")]  # versions, traces, scores
    )
    assert "Traceback" not in everything
    assert not crash.exists(), crash.read_text("utf-8")
    assert checked.code == 1, checked.out + checked.err
    assert "promptops check ❌ failed" in report, checked.out + checked.err
    assert pr.expect in report, report
    assert synced.code == pr.sync_code, synced.out + synced.err
    for secret in (LANGFUSE_SECRET, OPENAI_SECRET, STOLEN):
        assert secret not in everything
    for log in (checked.out + checked.err, synced.out + synced.err):  # the PR's data runs no workflow command
        for command in executed_commands(log):  # only our annotations, whatever their message quotes
            assert command.startswith(("error file=prompts/", "warning file=prompts/")), command
            assert "INJECTED" not in command, command


def test_committed_links_in_promptops_state_are_neither_read_nor_written_through(tmp_path: Path) -> None:
    # .promptops/ is in the checkout too: a PR can commit .promptops/cache/validate.pickle -> /dev/zero, which
    # read_bytes() would read forever, or .promptops/cache -> a folder outside, which a save would write into.
    from promptops.cachefile import SignedPickle

    (tmp_path / ".promptops" / "cache").mkdir(parents=True)
    (tmp_path / ".promptops" / "cache" / "validate.pickle").symlink_to("/dev/zero")
    assert SignedPickle(tmp_path / ".promptops" / "cache" / "validate.pickle", "validate").load() is None
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "repo" / ".promptops").mkdir(parents=True)
    (tmp_path / "repo" / ".promptops" / "cache").symlink_to(outside)
    SignedPickle(tmp_path / "repo" / ".promptops" / "cache" / "validate.pickle", "validate").save({"x": 1})
    assert list(outside.iterdir()) == []
