"""yamlfile.load reads what PyYAML's safe_load reads, and knows where each key is."""

from __future__ import annotations

import datetime

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from promptops import yamlfile

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(st.characters(exclude_categories=["Cs", "Cc"]), max_size=20)
    | st.sampled_from(["yes", "no", "1.0", "0x1f", "~", "null", "2026-12-02", "a: b", "- x", "|", "#"])
    | st.dates(min_value=datetime.date(1900, 1, 1))
)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=4),
    max_leaves=15,
)


@settings(max_examples=300, deadline=None)
@given(value=documents, style=st.sampled_from([None, "|", '"', "'"]), flow=st.booleans())
def test_load_reads_what_safe_load_reads(value: object, style: str | None, flow: bool) -> None:
    text = yaml.safe_dump(value, default_style=style, default_flow_style=flow, allow_unicode=True)
    document = yamlfile.load(text)
    assert document.problems == ()
    assert document.data == yaml.safe_load(text)


def test_positions_name_each_key_and_where_its_value_starts() -> None:
    text = "name: a\nexperiment:\n  evaluators:\n    - type: exact_match\n    - type: |\n        x\n"
    positions = yamlfile.load(text).positions
    assert positions["name"] == (1, 1)
    assert positions["experiment.evaluators"] == (3, 3)
    assert positions["experiment.evaluators.1"] == (5, 7)
    assert positions["experiment.evaluators.1.type"] == (5, 7)
    assert positions["experiment.evaluators.1.type#value"] == (6, 13)
