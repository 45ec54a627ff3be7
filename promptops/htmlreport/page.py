"""The page: a header with the command's outcome, an overview row per prompt, then a section per prompt."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources

from promptops.htmlreport.diffs import prompt_diff
from promptops.htmlreport.figures import figures, tokens
from promptops.htmlreport.items import items_section
from promptops.htmlreport.markup import Text, el, slug
from promptops.htmlreport.metrics import metrics_table
from promptops.runview import PromptView, RunView, count


@cache
def _asset(name: str) -> str:
    return resources.files("promptops.htmlreport").joinpath(name).read_text("utf-8")


def _hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii") + "'"


def html_report(view: RunView, redact_patterns: Sequence[str] = ()) -> str:
    """Return the whole report as one HTML document that needs nothing else to be viewed."""
    t = Text(redact_patterns)
    css, js = _asset("report.css"), _asset("report.js")
    # Only our own inline style and script may run, and nothing may be fetched: a report opened from an
    # artifact stays offline even if a model output smuggled in markup (which escaping already prevents).
    policy = f"default-src 'none'; style-src {_hash(css)}; script-src {_hash(js)}; img-src data:"
    verdict = "passed" if view.passed else "failed"
    title = f"promptops {view.command} {verdict}"
    head = "".join(
        [
            '<meta charset="utf-8">',
            el("title", t(title)),
            f'<meta http-equiv="Content-Security-Policy" content="{policy}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="color-scheme" content="light dark">',
            el("style", css),
        ]
    )
    body = [_header(view, t), _overview(view, t), _problems(view, t)]
    body += [_prompt_section(index, prompt, view.trace_urls, t) for index, prompt in enumerate(view.prompts)]
    body.append(
        el("footer", "Written by promptops. Self-contained: it loads nothing from the network.", class_="muted")
    )
    page = el("body", el("main", body) + el("script", js))
    return "<!DOCTYPE html>\n" + el("html", el("head", head) + page, lang="en") + "\n"


def _header(view: RunView, t: Text) -> str:
    badge = el("span", "passed" if view.passed else "failed", class_="badge " + ("pass" if view.passed else "fail"))
    facts = el("dl", [el("dt", t(k)) + el("dd", t(v)) for k, v in view.facts], class_="facts")
    heading = el("h1", f"promptops {t(view.command)} " + badge)
    return el("header", heading + el("p", t(view.summary), class_="summary") + facts)


def _overview(view: RunView, t: Text) -> str:
    if len(view.prompts) < 2:
        return ""
    rows = []
    for index, p in enumerate(view.prompts):
        counts = count(p.items)
        changes = ", ".join(f"{n} {status}" for status, n in counts.items()) or "—"
        link = el("a", t(p.name), href=f"#{_anchor(index, p, t)}")
        rows.append(el("tr", [el("td", link), el("td", _outcome(p, t)), el("td", changes), el("td", t(p.reason))]))
    head = el("tr", [el("th", name, scope="col") for name in ("prompt", "outcome", "items", "why")])
    return el("nav", el("table", el("thead", head) + el("tbody", rows), class_="overview"), aria_label="prompts")


def _problems(view: RunView, t: Text) -> str:
    if not view.problems:
        return ""
    rows = [el("tr", el("td", el("code", t(d.location()))) + el("td", t(d.message))) for d in view.problems]
    head = el("tr", el("th", "file", scope="col") + el("th", "problem", scope="col"))
    table = el("table", el("thead", head) + el("tbody", rows), class_="problems")
    return el("section", el("h2", "Validation errors") + table, class_="prompt")


def _anchor(index: int, prompt: PromptView, t: Text) -> str:
    return f"p{index}-{slug(t.plain(prompt.name))}"


def _outcome(prompt: PromptView, t: Text) -> str:
    kind = "none" if prompt.passed is None else "pass" if prompt.passed else "fail"
    return el("span", t(prompt.outcome), class_=f"badge {kind}")


def _prompt_section(index: int, prompt: PromptView, trace_urls: Mapping[str, str], t: Text) -> str:
    parts = [el("h2", t(prompt.name) + " " + _outcome(prompt, t)), el("p", t(prompt.reason), class_="reason")]
    facts = list(prompt.facts)
    if prompt.runs is not None:
        run = prompt.runs.candidate
        setup = f"{run.dataset} · {run.model} · seed {run.seed}"
        facts += [("candidate", run.subject)] + (
            [("baseline", prompt.runs.baseline.subject)] if prompt.runs.baseline else []
        )
        facts.append(("dataset · model · seed", setup))
        used = tokens(prompt.runs.baseline, run)
        facts += [("tokens", used)] if used else []
    parts.append(el("dl", [el("dt", t(k)) + el("dd", t(v)) for k, v in facts], class_="facts"))
    if prompt.runs is not None:
        parts.append(figures(prompt, t))
        title = "Prompt: baseline → candidate" if prompt.runs.baseline is not None else "Prompt"
        if prompt.runs.baseline is not None:
            shown = prompt_diff(t.plain(prompt.runs.baseline_prompt), t.plain(prompt.runs.candidate_prompt))
        else:
            shown = el("pre", t(prompt.runs.candidate_prompt), class_="prompt-text")
        parts.append(el("details", el("summary", title) + shown, open=True, class_="prompt-box"))
        parts.append(metrics_table(prompt, t))
    if prompt.verdict is not None:
        checks = [
            el(
                "li",
                el("span", "✓" if c.passed else "✗", class_="ok" if c.passed else "bad")
                + f" {t(c.kind)}: {t(c.message)}",
            )
            for c in prompt.verdict.checks
        ]
        parts.append(el("h3", "Checks") + el("ul", checks, class_="checks"))
    parts.append(items_section(prompt, t, trace_urls))
    return el("section", parts, class_="prompt", id=_anchor(index, prompt, t))
