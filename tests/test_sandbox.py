"""The bounded sandbox: ordinary templates render as Jinja renders them; every filter has a size decision.

The bombs are in tests/test_bad_input.py (in a child process with memory and CPU limits); here: what must keep
working, and that no Jinja filter is left unclassified (a Jinja upgrade that adds one fails here until someone
decides whether its result can outgrow its input).
"""

from __future__ import annotations

from typing import Any

import pytest
from jinja2 import StrictUndefined
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from promptops.sandbox import FILTER_PREDICTORS, LINEAR_FILTERS, BoundedSandbox, bounded
from promptops.sandbox_bounds import RENDER_BUDGET, measure

ORDINARY = [
    ("{{ '%5.2f' % 3.14159 }}|{{ '%s and %s' % ('a', 'b') }}|{{ '%(x)s' % {'x': 1} }}", {}),
    ("{{ '{:>6}'.format('x') }}|{{ '{0}-{1}'.format(1, 2) }}|{{ '{w:>{n}}'.format_map({'w': 'x', 'n': 3}) }}", {}),
    ("{{ text|indent(4) }}|{{ text|wordwrap(5) }}|{{ text|replace('b', 'bb') }}|{{ text|center(20) }}", {}),
    ("{{ items|join(', ') }}|{{ ', '.join(items) }}|{{ items|map('upper')|join }}|{{ items|tojson(2) }}", {}),
    ("{{ text.replace('a', 'A').expandtabs(4).zfill(12) }}|{{ text.split()|length }}|{{ text|truncate(3000) }}", {}),
    ("{% macro m(x) %}[{{ x }}]{% endmacro %}{% for i in range(3) %}{{ m(i) }}{{ loop.index ~ '.' }}{% endfor %}", {}),
    ("{% set ns = namespace(s='') %}{% for i in items %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.s }}", {}),
    ("{% set x %}block {{ 1 + 2 }}{% endset %}{{ x }}|{% filter upper %}shout{% endfilter %}|{{ 7 // 2 }}", {}),
    ("{{ (items + ['d']) | length }}|{{ 2 ** 10 }}|{{ 'ab' * 3 }}|{{ items is sequence }}|{{ big|length }}", {}),
]
CONTEXT: dict[str, Any] = {"text": "a b\tc\nd", "items": ["a", "b", "c"], "big": "x" * 900_000}


def plain(source: str) -> str:
    env = SandboxedEnvironment(undefined=StrictUndefined)
    return env.from_string(source).render(CONTEXT)


@pytest.mark.parametrize(("source", "extra"), ORDINARY)
def test_ordinary_templates_render_as_jinja_renders_them(source: str, extra: dict[str, Any]) -> None:
    env = BoundedSandbox(undefined=StrictUndefined)
    with bounded():
        assert env.from_string(source).render({**CONTEXT, **extra}) == plain(source)


def test_every_jinja_filter_has_a_size_decision() -> None:
    filters = set(BoundedSandbox().filters)
    assert filters - LINEAR_FILTERS - set(FILTER_PREDICTORS) == set()
    assert LINEAR_FILTERS & set(FILTER_PREDICTORS) == set()


def test_a_render_has_an_allocation_budget() -> None:
    env = BoundedSandbox()
    many = "{% for i in range(30) %}{% set x = big ~ '!' %}{% endfor %}"  # 27,000,000 characters, 900,000 at a time
    with bounded(), pytest.raises(SecurityError, match=f"more than {RENDER_BUDGET:,} characters in all"):
        env.from_string(many).render(CONTEXT)
    with bounded():  # a new render, a new budget
        assert env.from_string("{{ big|length }}").render(CONTEXT) == "900000"


def test_measuring_counts_shared_elements_and_stops_at_the_cap() -> None:
    shared = ["x" * 1000] * 1000
    assert measure(shared, cap=10**9)[0] == 1000 * 1002 + 1002
    size, _ = measure([shared] * 1000, cap=5000)
    assert 5000 < size < 5000 + 2000  # stopped soon after the cap, not after a billion characters
    assert measure([[["deep"]]])[1] == 4
