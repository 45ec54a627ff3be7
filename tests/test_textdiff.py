"""Unified diffs of prompt text: exact for ordinary edits, and bounded for text no one could read as a diff."""

from __future__ import annotations

from promptops.textdiff import MAX_DIFF_LINES, unified


def test_an_edit_in_a_long_prompt_is_diffed_exactly() -> None:
    old = "".join(f"line {i}\n" for i in range(60_000))
    new = old.replace("line 500\n", "five hundred\n")
    assert unified(old, new, "a", "b").splitlines() == [
        "--- a", "+++ b", "@@ -498,7 +498,7 @@",
        " line 497", " line 498", " line 499", "-line 500", "+five hundred", " line 501", " line 502", " line 503",
    ]  # fmt: skip


def test_a_changed_part_too_long_to_diff_is_named_not_diffed() -> None:
    # difflib needs minutes for two permutations of 20,000 distinct lines; a PR can commit such a prompt.
    count = 4 * MAX_DIFF_LINES
    old = "".join(f"{i}\n" for i in range(count))
    new = "".join(f"{i * 7 % (count + 1)}\n" for i in range(count))
    assert unified(old, new, "a", "b") == (
        "--- a\n+++ b\n@@ -1,20000 +1,20000 @@\n"
        " (19,999 lines changed to 19,999: too many to diff here; compare the files with git)\n"
    )
    assert unified(old, old, "a", "b") == ""
