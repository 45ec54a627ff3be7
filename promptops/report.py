"""The PR report of `promptops check`, Atlantis-style: one Markdown document, within GitHub's comment limit."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from promptops.cost import format_usd
from promptops.model import Diagnostic
from promptops.results import Evaluation
from promptops.sensitive import redact
from promptops.verdict import Verdict
from promptops.verdict_render import verdict_markdown

MARKER = "<!-- promptops-report -->"
GITHUB_COMMENT_LIMIT = 65_536  # characters GitHub accepts in one comment body
LINK_RESERVE = 1_000  # left free for the line the workflows add under the heading: the link to the HTML report
TRUNCATION_NOTE = "\n\n> ✂️ The report was truncated to fit GitHub's comment size limit; run `promptops check` for all."
_FENCE = re.compile(r" {0,3}(`{3,})")  # a line that opens or closes a fenced code block (CommonMark)


@dataclass(frozen=True)
class PromptCheck:
    """One changed prompt in a PR: its diff, what sync will do, and the verdict."""

    name: str
    status: str  # new or changed (against the base ref)
    baseline: str  # where the baseline came from
    text_diff: str
    plan: str
    verdict: Verdict | None
    note: str = ""  # why there is no verdict (no experiment, held, not evaluated, ...)
    blocked: str = ""  # why the check fails without a verdict (the content was rejected before)
    path: str = ""  # the prompt file, relative to the project root (for annotations)
    line: int | None = None  # the line a failed gate is annotated on (the prompt's `gate:`)
    runs: Evaluation | None = None  # the runs the verdict judged, for reports that show every item
    evaluated: bool = True  # False: it has an experiment that could not be judged (budget, model not runnable)
    error: str = ""  # why the gate could not finish (user code that cannot run, ...): a failed gate

    @property
    def passed(self) -> bool:
        """Return whether this prompt lets the check pass (a prompt that could not be evaluated does not)."""
        return not self.error and not self.blocked and self.evaluated and (self.verdict is None or self.verdict.passed)


BASE_SLOT = "\0base\0"  # where the base goes, redacted on its own


def markdown(
    prompts: Sequence[PromptCheck],
    diagnostics: Sequence[Diagnostic],
    *,
    base: str,
    registry: str,
    redact_patterns: Iterable[str] = (),
    limit: int = GITHUB_COMMENT_LIMIT - LINK_RESERVE,
) -> str:
    """Return the whole report, redacted, and truncated with a note when it would exceed `limit`."""
    errors = [d for d in diagnostics if d.severity == "error"]
    failed = [p for p in prompts if not p.passed]
    ok = not errors and not failed
    head = [MARKER, f"## promptops check {'✅ passed' if ok else '❌ failed'}", ""]
    head.append(_summary_line(prompts, errors, failed))
    head.append(f"\nBase: `{BASE_SLOT}` · baseline source: {registry}\n")
    cost = cost_line(prompts)
    if cost:
        head.append(cost + "\n")
    if prompts:  # one row per prompt first, so a truncated report still names every verdict
        head += ["| prompt | change | verdict |", "|---|---|---|"]
        head += [f"| `{p.name}` | {p.status} | {_verdict_cell(p)} |" for p in prompts]
        head.append("")
    sections = [_validation_section(errors)] if errors else []
    sections += [_prompt_section(p) for p in prompts]
    text = redact("\n".join(head) + "\n".join(sections), redact_patterns)
    commits = re.findall(r"\b[0-9a-f]{7,40}\b", base)  # the base's commit id, which is no one's phone number
    text = text.replace(BASE_SLOT, redact(base, redact_patterns, keep=commits), 1)
    return _fit(text, limit)


def cost_line(prompts: Sequence[PromptCheck]) -> str | None:
    """Return the check's model cost over every verdict, or None when no run called a priced model."""
    costs_of = [p.verdict.cost for p in prompts if p.verdict is not None and p.verdict.cost is not None]
    runs = [r for c in costs_of for r in (c.candidate, c.baseline) if r is not None]
    if not any(r.worth_showing for r in runs):
        return None
    costs = [r.cost_usd for r in runs]
    total = None if any(c is None for c in costs) else sum(c for c in costs if c is not None)
    live, replayed = sum(r.live_calls for r in runs), sum(r.replayed_calls for r in runs)
    limited = sum(r.rate_limited for r in runs)
    tail = f", rate limited {limited} times" if limited else ""
    calls = f"{live} live calls, {replayed} replayed at no cost{tail}"
    return f"Model cost of this check: **{format_usd(total)}** ({calls})"


def _verdict_cell(p: PromptCheck) -> str:
    if p.error:
        return "❌ could not run"
    if p.blocked:
        return f"❌ {_cell(p.note)}"
    if not p.evaluated:
        return "⚠️ not evaluated"
    if p.verdict is None:
        return f"— {_cell(p.note)}"
    return "✅ passed" if p.verdict.passed else "❌ rejected"


def _summary_line(prompts: Sequence[PromptCheck], errors: Sequence[Diagnostic], failed: Sequence[PromptCheck]) -> str:
    if errors:
        return f"{len(errors)} validation error(s): the prompts do not validate, so no experiment ran."
    if not prompts:
        return "No prompt changed against the base."
    unjudged = sum(not p.evaluated for p in prompts)
    note = f" ({unjudged} of them not evaluated)" if unjudged else ""
    return f"{len(prompts)} prompt(s) changed, {len(failed)} failed the gate{note}."


def _validation_section(errors: Sequence[Diagnostic]) -> str:
    lines = ["### Validation errors", "", "| file | problem |", "|---|---|"]
    for d in errors[:50]:
        lines.append(f"| `{d.location()}` | {_cell(d.message)} |")
    if len(errors) > 50:
        lines.append(f"| … | and {len(errors) - 50} more |")
    return "\n".join(lines) + "\n"


def _prompt_section(p: PromptCheck) -> str:
    parts = [f"### `{p.name}` ({p.status})", "", f"**On merge:** {p.plan}", ""]
    if p.text_diff:
        fence = _fence(p.text_diff)
        parts += [
            "<details><summary>Rendered text diff</summary>",
            "",
            f"{fence}diff",
            p.text_diff.rstrip("\n"),
            fence,
            "</details>",
            "",
        ]
    if p.error:
        parts.append(f"❌ **The gate could not finish, so it failed:** {_cell(p.error)}")
    elif p.verdict is not None:
        parts.append(verdict_markdown(p.verdict))
    elif p.blocked:
        parts.append(f"**Fails:** {p.blocked}")
    elif not p.evaluated:
        parts.append(f"**Not evaluated:** {_cell(p.note)}")
    else:
        parts.append(f"No gate: {p.note}")
    parts.append(f"\n<sub>Baseline: {p.baseline}</sub>\n")
    return "\n".join(parts)


def _fence(text: str) -> str:
    """Return a code fence longer than any run of backticks in `text`: a prompt's own ``` cannot close it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _cell(text: str) -> str:
    # `<` and `&` escaped: a message quoting prompt text must not open HTML (a stray <details> hides the rest).
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    return text.replace("|", "\\|").replace("\n", " ")


def _fit(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: _last_safe_cut(text, limit - len(TRUNCATION_NOTE))]
    return cut.rstrip("\n") + TRUNCATION_NOTE


def _last_safe_cut(text: str, budget: int) -> int:
    """Return where the last whole line within `budget` ends with no code fence and no <details> open.

    Cutting inside either would swallow the truncation note: into the code block, or into a collapsed section.
    """
    safe = end = details = 0
    fence = ""
    for line in text.splitlines(keepends=True):
        end += len(line)
        if end > budget:
            break
        match = _FENCE.match(line)
        if fence:
            if match and match.group(1).startswith(fence) and not line[match.end() :].strip():
                fence = ""
        elif match:
            fence = match.group(1)
        else:
            details += line.count("<details>") - line.count("</details>")
        if not fence and details == 0:
            safe = end
    return safe
