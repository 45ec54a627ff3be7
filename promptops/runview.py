"""What a report shows of a command's runs, whatever the command: one view for the HTML report and JUnit.

`check`, `sync` and `experiment` each become a RunView: per prompt its outcome and verdict, the runs behind it,
and every item paired with its baseline and classified by the primary metric. The classification reads item
values exactly as the gate does (gate.item_value), so a report never calls an item worse that the gate did not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from promptops.model import Diagnostic
from promptops.results import Evaluation, ExperimentResult, ItemResult
from promptops.verdict import EPSILON, Verdict, item_value

if TYPE_CHECKING:
    from promptops.api import CheckResult, ExperimentOutcome, SyncResult

ItemStatus = Literal["regressed", "improved", "unchanged", "failed", "scored"]
# The order rows come in before anyone sorts them: what needs a look first.
STATUS_ORDER: tuple[ItemStatus, ...] = ("failed", "regressed", "improved", "unchanged", "scored")


@dataclass(frozen=True)
class ItemRow:
    """One item (one repeat) of the candidate run beside the same item of the baseline run."""

    item_id: str
    repeat: int
    status: ItemStatus
    candidate: ItemResult
    baseline: ItemResult | None
    delta: float | None  # the primary metric, candidate - baseline, as measured

    @property
    def key(self) -> str:
        """Return the item's id, with the repeat when there is more than one."""
        return self.item_id if self.repeat == 0 else f"{self.item_id} (repeat {self.repeat})"


@dataclass(frozen=True)
class PromptView:
    """One prompt of a command: what happened to it, the verdict, and the runs behind it."""

    name: str
    outcome: str  # e.g. "rejected", "promoted", "no gate", "ran"
    passed: bool | None  # None: nothing was judged
    reason: str
    facts: tuple[tuple[str, str], ...]  # labelled details: change, baseline source, version, what sync will do
    verdict: Verdict | None = None
    runs: Evaluation | None = None
    primary: str | None = None

    @property
    def items(self) -> tuple[ItemRow, ...]:
        """Return every candidate item beside its baseline, the ones that need a look first."""
        return item_rows(self.runs, self.primary) if self.runs is not None else ()


@dataclass(frozen=True)
class RunView:
    """A whole command's outcome as reports show it."""

    command: str  # check, sync or experiment
    passed: bool
    summary: str  # one sentence
    facts: tuple[tuple[str, str], ...]
    prompts: tuple[PromptView, ...]
    problems: tuple[Diagnostic, ...] = ()  # validation errors (check)
    trace_urls: Mapping[str, str] = field(default_factory=dict)


def item_rows(runs: Evaluation, primary: str | None) -> tuple[ItemRow, ...]:
    """Return the candidate's items paired with the baseline's by (id, repeat), classified by `primary`.

    Both runs ran the same dataset, so every candidate item has its baseline item; a failed candidate item is
    "failed" whatever it scored; a single run's items are "failed" or "scored".
    """
    base = runs.baseline
    by_key = {(i.item_id, i.repeat): i for i in base.items} if base is not None else {}
    summary = runs.candidate.metrics.get(primary or "") or (base.metrics.get(primary or "") if base else None)
    higher_is_better = summary is None or summary.higher_is_better
    rows = []
    for cand in runs.candidate.items:
        old = by_key.get((cand.item_id, cand.repeat))
        delta = None
        if cand.failed:
            status: ItemStatus = "failed"
        elif old is None or primary is None:
            status = "scored"
        else:
            b, c = item_value(old, primary, summary), item_value(cand, primary, summary)
            delta = None if b is None or c is None else c - b
            gain = 0.0 if delta is None else (delta if higher_is_better else -delta)
            fixed = old.failed  # an item that failed in the baseline and runs now is better, whatever it scored
            status = "improved" if gain > EPSILON or fixed else "regressed" if gain < -EPSILON else "unchanged"
        rows.append(ItemRow(cand.item_id, cand.repeat, status, cand, old, delta))
    rank = {status: i for i, status in enumerate(STATUS_ORDER)}
    rows.sort(key=lambda r: (rank[r.status], -abs(r.delta or 0.0), r.item_id, r.repeat))  # biggest moves first
    return tuple(rows)


def count(rows: tuple[ItemRow, ...]) -> dict[ItemStatus, int]:
    """Return how many rows have each status, in STATUS_ORDER, leaving out statuses no row has."""
    found = {status: sum(r.status == status for r in rows) for status in STATUS_ORDER}
    return {status: n for status, n in found.items() if n}


def from_check(result: CheckResult) -> RunView:
    """Return the view of a `check`."""
    errors = tuple(d for d in result.diagnostics if d.severity == "error")
    prompts = []
    for p in result.prompts:
        facts = (("change", p.status), ("baseline", p.baseline), ("on merge", p.plan))
        if p.verdict is None:
            # Content rejected before fails the check without running anything, and so does one that could not
            # be evaluated (its budget, or a model without its key); other prompts have no gate to judge.
            outcome, passed = (
                ("rejected before", False)
                if p.blocked
                else ("not evaluated", False)
                if not p.evaluated
                else ("no gate", None)
            )
            prompts.append(PromptView(p.name, outcome, passed, p.blocked or p.note, facts))
            continue
        outcome = "passed" if p.verdict.passed else "rejected"
        prompts.append(
            PromptView(p.name, outcome, p.verdict.passed, p.verdict.reason, facts, p.verdict, p.runs, p.verdict.primary)
        )
    failed = sum(p.passed is False for p in prompts)
    if errors:
        summary = f"{len(errors)} validation error(s): the prompts do not validate, so no experiment ran."
    elif not prompts:
        summary = "No prompt changed against the base."
    else:
        summary = f"{len(prompts)} prompt(s) changed, {failed} failed the gate."
    run_facts = (("base", result.base), ("baseline source", result.registry))
    return RunView("check", result.passed, summary, run_facts, tuple(prompts), errors, result.trace_urls)


def from_sync(result: SyncResult) -> RunView:
    """Return the view of a `sync` (or of its dry run)."""
    prompts = []
    for p in result.prompts:
        facts = [("plan status", p.status)]
        facts += [("version", str(p.version))] if p.version is not None else []
        facts += [("release", p.release)] if p.release else []
        judged = p.verdict.passed and not p.failed if p.verdict is not None else (False if p.failed else None)
        reason = p.message or (p.verdict.reason if p.verdict else "")
        primary = p.verdict.primary if p.verdict else None
        prompts.append(PromptView(p.name, p.outcome, judged, reason, tuple(facts), p.verdict, p.runs, primary))
    failed = sum(p.failed for p in result.prompts)
    judged_count = sum(p.verdict is not None for p in result.prompts)
    summary = (
        f"{len(prompts)} prompt(s) planned; nothing was run (dry run)."
        if result.dry_run
        else f"{len(prompts)} prompt(s), {judged_count} judged, {failed} failed."
    )
    run_facts = (("registry", result.registry),) + ((("mode", "dry run"),) if result.dry_run else ())
    return RunView("sync", not result.failed, summary, run_facts, tuple(prompts), (), result.trace_urls)


def from_experiment(outcome: ExperimentOutcome) -> RunView:
    """Return the view of one `experiment` run: no baseline, no verdict."""
    run = outcome.result
    primary = next(iter(run.metrics), None)
    reason = f"the run stopped early: {run.stopped}" if run.stopped else _run_sentence(run)
    facts = (("subject", run.subject), ("registry", outcome.registry), ("run id", run.run_id))
    runs = Evaluation(run, None, outcome.prompt_text)
    outcome_word = "stopped" if run.stopped else "ran"
    prompt = PromptView(run.prompt, outcome_word, not run.stopped, reason, facts, None, runs, primary)
    summary = reason[0].upper() + reason[1:] + "."
    return RunView("experiment", not run.stopped, summary, facts, (prompt,), (), outcome.trace_urls)


def _run_sentence(run: ExperimentResult) -> str:
    failed = len(run.failed_items)
    return f"{len(run.items)} item(s) of {run.dataset} ran on {run.model} (seed {run.seed}), {failed} failed"


_UNSHOWABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def showable(text: str) -> str:
    """Return text with the characters XML 1.0 and HTML forbid (controls, lone surrogates) written as escapes.

    A model output may hold any of them; in the report they would make the file invalid, so they show as
    `\\x1b` and the like instead.
    """
    return _UNSHOWABLE.sub(lambda m: f"\\x{ord(m.group(0)):02x}" if ord(m.group(0)) < 0x100 else "\ufffd", text)
