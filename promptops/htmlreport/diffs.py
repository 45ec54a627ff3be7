"""Diffs a person reads at a glance: the rendered prompt line by line, model outputs word by word.

Both diff the masked text (what the report shows), so a masked value never shows up as a change of its own.
"""

from __future__ import annotations

import difflib
import html
import re

from promptops.htmlreport.markup import el

MAX_DIFF_TOKENS = 4000  # SequenceMatcher is quadratic at worst: longer outputs are shown, not diffed
CONTEXT_LINES = 3  # unchanged prompt lines kept around each change; longer unchanged runs fold
_TOKENS = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


def _tokens(text: str) -> list[str]:
    return _TOKENS.findall(text)


def word_diff(old: str, new: str) -> str:
    """Return `new` as HTML with what `old` had and `new` lost in <del>, what `new` added in <ins>."""
    a, b = _tokens(old), _tokens(new)
    if len(a) > MAX_DIFF_TOKENS or len(b) > MAX_DIFF_TOKENS:
        return el("span", "too long to diff word by word; compare the two outputs", class_="muted")
    if a == b:
        return el("span", "identical", class_="muted")
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(html.escape("".join(a[i1:i2])))
            continue
        if op in ("delete", "replace"):
            out.append(el("del", html.escape("".join(a[i1:i2]))))
        if op in ("insert", "replace"):
            out.append(el("ins", html.escape("".join(b[j1:j2]))))
    return "".join(out)


def prompt_diff(old: str | None, new: str) -> str:
    """Return a line diff table of two prompt texts; changed lines show which words changed."""
    if old is None:
        return el("p", "No baseline prompt: this prompt is new, so there is nothing to diff against.", class_="muted")
    if old == new:
        return el("p", "The baseline and the candidate ran the same prompt text.", class_="muted")
    a, b = old.splitlines(), new.splitlines()
    rows: list[str] = []
    for group in difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(CONTEXT_LINES):
        if rows:
            rows.append(_row("fold", "", "", el("span", "…", class_="muted")))
        for op, i1, i2, j1, j2 in group:
            if op == "equal":
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                    rows.append(_row("same", str(i + 1), str(j + 1), html.escape(a[i])))
                continue
            old_lines, new_lines = a[i1:i2], b[j1:j2]
            paired = op == "replace" and len(old_lines) == len(new_lines)
            for offset, line in enumerate(old_lines):
                shown = _changed_words(line, new_lines[offset], "del") if paired else html.escape(line)
                rows.append(_row("del", str(i1 + offset + 1), "", shown))
            for offset, line in enumerate(new_lines):
                shown = _changed_words(old_lines[offset], line, "ins") if paired else html.escape(line)
                rows.append(_row("ins", "", str(j1 + offset + 1), shown))
    head = el("thead", el("tr", el("th", "baseline", scope="col") + el("th", "candidate", scope="col") + el("th", "")))
    return el("table", head + el("tbody", rows), class_="prompt-diff")


def _changed_words(old: str, new: str, side: str) -> str:
    """Return one side of a changed line with the words that differ marked."""
    a, b = _tokens(old), _tokens(new)
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        piece = "".join(a[i1:i2]) if side == "del" else "".join(b[j1:j2])
        if op == "equal":
            out.append(html.escape(piece))
        elif piece:
            out.append(el("mark", html.escape(piece)))
    return "".join(out)


def _row(kind: str, old_number: str, new_number: str, content: str) -> str:
    sign = {"del": "−", "ins": "+"}.get(kind, " ")
    cells = el("td", old_number, class_="ln") + el("td", new_number, class_="ln")
    return el("tr", cells + el("td", el("span", sign, class_="sign") + content, class_="code"), class_=kind)
