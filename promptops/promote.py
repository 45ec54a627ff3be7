"""Judge one prompt's candidate against its production baseline, then promote or reject it (sync's effects).

Crash safety comes from the order of effects: a version is created first (its provenance makes a rerun find it
as `pending`), then judged, then production and release-N move in ONE registry call that re-checks production is
still the baseline that was measured (Registry.promote). A run killed anywhere leaves a state the next run
converges from, and of two runs at once only one promotes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from promptops.budget import NotEvaluated
from promptops.errors import Interrupted
from promptops.experiments import RunFn
from promptops.gate import judge
from promptops.model import DatasetSpec, GatePolicy, Project, PromptSpec, RenderedPrompt
from promptops.plan import PromptPlan
from promptops.publish import Origin
from promptops.registry.base import PromptVersion, Registry, user_config
from promptops.registry.labels import (
    PRODUCTION,
    Decisions,
    content_label,
    passed_label,
    rejected_label,
    release_numbers,
)
from promptops.render import content_hash
from promptops.results import Evaluation, ExperimentResult
from promptops.runner import INTERRUPTED, Subject
from promptops.verdict import Verdict

Outcome = Literal["promoted", "rejected", "conflict", "already-promoted"]  # of a decision


@dataclass(frozen=True)
class Decision:
    """What happened to one candidate version."""

    name: str
    version: int
    outcome: Outcome
    verdict: Verdict
    release: str | None = None
    message: str = ""


def rendered_from_version(v: PromptVersion, source_path: str = "") -> RenderedPrompt:
    """Return a stored version as a RenderedPrompt (what the runner executes)."""
    config = user_config(v.config)
    return RenderedPrompt(
        name=v.name,
        type="chat" if v.type == "chat" else "text",
        prompt=v.prompt,
        config=config,
        tags=v.tags,
        labels=(),
        content_hash=content_hash(v.type, v.prompt, config),
        source_path=source_path,
    )


def version_subject(v: PromptVersion, source_path: str, role: str) -> Subject:
    """Return a stored version as a runner subject, described by its role (candidate, production)."""
    return Subject(rendered_from_version(v, source_path), v.version, f"version {v.version} ({role})")


def baseline_version(registry: Registry, name: str) -> PromptVersion | None:
    """Return the version that holds production, or None when the prompt has none yet."""
    from promptops.errors import LabelNotFound, PromptNotFound

    try:
        return registry.get_version(name, label=PRODUCTION)
    except (LabelNotFound, PromptNotFound):
        return None


def evaluate(
    spec: PromptSpec, dataset: DatasetSpec, candidate: Subject, baseline: Subject | None, run: RunFn
) -> tuple[Verdict, ExperimentResult, ExperimentResult | None]:
    """Run candidate and baseline on the same dataset, model, evaluators and seed, and judge them.

    Raises NotEvaluated, deciding nothing, when the estimate is above a budget, a budget stops a run, or the
    model could not be called here (no key) for what its recordings do not answer.
    """
    from promptops.evaluation_guard import judgeable

    policy = spec.gate or GatePolicy(primary=spec.experiment.evaluators[0].name if spec.experiment else "")
    preflight = getattr(run, "preflight", None)  # a plain run function (tests) has no budgets to hold
    if preflight is not None:
        preflight(spec, dataset, [s for s in (candidate, baseline) if s is not None])
    cand_result = judgeable(_finished(run(candidate, dataset, spec)), spec.name, "candidate", budget_only=True)
    base_result = _finished(run(baseline, dataset, spec)) if baseline is not None else None
    judgeable(cand_result, spec.name, "candidate", baseline=base_result)
    if base_result is not None:
        judgeable(base_result, spec.name, "baseline")
    return judge(policy, cand_result, base_result), cand_result, base_result


def _finished(result: ExperimentResult) -> ExperimentResult:
    """Refuse to judge a run the user interrupted: a partial run must neither promote nor reject."""
    if result.stopped == INTERRUPTED:
        done = sum(not item.error or not item.error.startswith("not run") for item in result.items)
        raise Interrupted(
            f"interrupted during the experiment of {result.prompt} ({result.subject}) after {done} of "
            f"{len(result.items)} items: nothing was promoted or rejected; run again to judge it"
        )
    return result


def decide(
    registry: Registry, name: str, candidate: PromptVersion, baseline: int | None, verdict: Verdict, fingerprint: str
) -> Decision:
    """Promote a passing candidate (if production is still the measured baseline) or record its rejection.

    Either way the decision is a label naming the candidate's content and the evaluation fingerprint, so it is
    remembered for this version and this experiment (registry/labels.py).
    """
    content = candidate.content_hash()
    if not verdict.passed:
        registry.set_labels(name, candidate.version, [rejected_label(content, fingerprint)])
        return Decision(name, candidate.version, "rejected", verdict, message=verdict.reason)
    outcome, release, message = promote_over(
        registry, name, candidate.version, baseline, [passed_label(content, fingerprint)]
    )
    return Decision(name, candidate.version, outcome, verdict, release, message or verdict.reason)


def promote_over(
    registry: Registry, name: str, candidate: int, baseline: int | None, labels: Sequence[str] = ()
) -> tuple[Outcome, str | None, str]:
    """Move production, the next release-N and `labels` to the candidate unless production left `baseline`.

    Returns (outcome, release label, message); the message is empty for a promotion.
    """
    from promptops.errors import ConcurrentChange

    try:
        promoted = registry.promote(name, candidate, expect_production=baseline, labels=labels)
    except ConcurrentChange:
        current = baseline_version(registry, name)
        current_number = current.version if current else None
        if current_number == candidate:
            return "already-promoted", None, "another run promoted it already"
        return (
            "conflict",
            None,
            (
                f"production moved from {_named(baseline)} to {_named(current_number)} while this run measured it; "
                "not promoting: run sync again to judge against the new baseline"
            ),
        )
    return "promoted", f"release-{release_numbers(promoted.labels)[-1]}", ""


def _named(version: int | None) -> str:
    return f"version {version}" if version is not None else "no version"


def decided_already(
    candidate: PromptVersion, baseline: PromptVersion | None, fingerprint: str
) -> tuple[str, str] | None:
    """Return (outcome, message) when another run has already decided the candidate since this run planned."""
    if baseline is not None and baseline.version == candidate.version:
        # Judging production against itself would reject it: the gate needs a candidate that beats its baseline.
        return "already-promoted", "another run promoted it already"
    content, decided = candidate.content_hash(), Decisions.of(candidate.labels)
    if decided.rejected_under(content, fingerprint):
        return "rejected-earlier", f"version {candidate.version} was rejected by the gate; change the prompt in git"
    if decided.held(content):
        return "held", f"production was rolled back from version {candidate.version}; change the prompt in git"
    return None


@dataclass(frozen=True)
class PromptSyncResult:
    """What sync did (or, with --dry-run, would do) for one prompt."""

    name: str
    status: str  # the plan status before sync
    outcome: str  # see OUTCOMES
    version: int | None = None
    release: str | None = None
    verdict: Verdict | None = None
    message: str = ""
    runs: Evaluation | None = None  # the runs the verdict judged, for reports that show every item

    @property
    def failed(self) -> bool:
        """Return whether this prompt makes sync exit 1."""
        return self.outcome in FAILED_OUTCOMES


OUTCOMES = {
    "promoted": "the candidate beat production and holds it now, as release-N",
    "verified": "production was judged again on the changed experiment and still meets its gate",
    "rejected": "the candidate (or production, on a changed experiment) failed its gate; production stays",
    "conflict": "production moved while this run measured it; nothing was promoted",
    "already-promoted": "another run promoted this version first",
    "unchanged": "production holds git's content",
    "held": "production was rolled back from git's content; nothing happens until git changes the prompt",
    "rejected-earlier": "git's content was rejected on this experiment; nothing runs until git changes the prompt",
    "orphan": "in the registry, gone from git; left alone",
    "not-evaluated": "the candidate could not be judged (its budget, or a model without its key); it stays pending",
}
FAILED_OUTCOMES = ("rejected", "conflict", "rejected-earlier", "not-evaluated")
QUIET = {"in-sync": "unchanged", "held": "held", "orphan": "orphan", "rejected": "rejected-earlier"}


def planned_result(p: PromptPlan) -> PromptSyncResult:
    """Return what `sync --dry-run` reports for a plan: its status as the outcome, its action as the message."""
    version = p.candidate if p.candidate is not None else (p.state.latest_version if p.state else None)
    failed = "rejected-earlier" if p.blocking else p.status
    return PromptSyncResult(p.name, p.status, failed, version, message=p.action)


def sync_prompt(
    project: Project, reg: Registry, p: PromptPlan, run: RunFn, origin: Callable[[str], Origin]
) -> PromptSyncResult:
    """Create, judge and promote or reject one planned prompt; say why for the statuses sync leaves alone."""
    from promptops import publish

    state_version = p.candidate or (p.state.latest_version if p.state else None)
    if p.status in QUIET:
        if p.adopt and p.candidate is not None and p.rendered is not None:
            reg.set_labels(p.name, p.candidate, [content_label(p.rendered.content_hash)])
        return PromptSyncResult(p.name, p.status, QUIET[p.status], state_version, message=p.action)
    spec = project.prompt(p.name)
    assert spec is not None and p.rendered is not None and p.fingerprint is not None  # orphans are quiet
    if p.status == "experiment-changed":
        return _verify_production(project, reg, p, spec, run)
    if publish.needs_version(p):
        candidate = publish.create_version(reg, p, project.root, origin(p.name))
    else:
        assert p.candidate is not None
        candidate = reg.get_version(p.name, version=p.candidate)
        if p.adopt:
            candidate = reg.set_labels(p.name, candidate.version, [content_label(p.rendered.content_hash)])
    baseline = baseline_version(reg, p.name)
    # The plan may be stale: a concurrent run can have created, judged and decided this very version meanwhile.
    settled = decided_already(candidate, baseline, p.fingerprint)
    if settled is not None:
        return PromptSyncResult(p.name, p.status, settled[0], candidate.version, message=settled[1])
    baseline_number = baseline.version if baseline else None
    if spec.experiment is None:
        # An explicit opt-out (`experiment: {skip: why}`): there is nothing to judge, so the version ships.
        mark = [passed_label(p.rendered.content_hash, p.fingerprint)]
        outcome, release, message = promote_over(reg, p.name, candidate.version, baseline_number, mark)
        message = message or f"promoted without a gate: {spec.no_experiment_reason}"
        return PromptSyncResult(p.name, p.status, outcome, candidate.version, release, None, message)
    dataset = project.dataset(spec.experiment.dataset)
    assert dataset is not None  # validation guarantees it
    base_subject = version_subject(baseline, spec.path, "production") if baseline is not None else None
    cand_subject = version_subject(candidate, spec.path, "candidate")
    try:
        verdict, cand_run, base_run = evaluate(spec, dataset, cand_subject, base_subject, run)
    except NotEvaluated as exc:  # the version stays pending: the next sync judges it
        return PromptSyncResult(p.name, p.status, "not-evaluated", candidate.version, message=str(exc))
    decision = decide(reg, p.name, candidate, baseline_number, verdict, p.fingerprint)
    runs = Evaluation.of(cand_run, base_run, cand_subject, base_subject)
    return PromptSyncResult(
        p.name, p.status, decision.outcome, candidate.version, decision.release, verdict, decision.message, runs
    )


def _verify_production(
    project: Project, reg: Registry, p: PromptPlan, spec: PromptSpec, run: RunFn
) -> PromptSyncResult:
    """Judge production again, alone, on a changed experiment: it must still meet its floors."""
    assert p.rendered is not None and p.fingerprint is not None
    production = baseline_version(reg, p.name)
    content = p.rendered.content_hash
    if production is None or production.content_hash() != content:
        where = _named(production.version if production else None)
        return PromptSyncResult(
            p.name, p.status, "conflict", p.candidate,
            message=f"production moved to {where} since this run planned; run sync again",
        )  # fmt: skip
    if spec.experiment is None:
        reg.set_labels(p.name, production.version, [passed_label(content, p.fingerprint)])
        return PromptSyncResult(p.name, p.status, "verified", production.version, message="no experiment to run")
    dataset = project.dataset(spec.experiment.dataset)
    assert dataset is not None  # validation guarantees it
    subject = version_subject(production, spec.path, "production")
    try:
        verdict, prod_run, _ = evaluate(spec, dataset, subject, None, run)
    except NotEvaluated as exc:  # nothing is labelled: the next sync judges it again
        return PromptSyncResult(p.name, p.status, "not-evaluated", production.version, message=str(exc))
    runs = Evaluation.of(prod_run, None, subject, None)
    label = (passed_label if verdict.passed else rejected_label)(content, p.fingerprint)
    reg.set_labels(p.name, production.version, [label])
    if verdict.passed:
        return PromptSyncResult(p.name, p.status, "verified", production.version, None, verdict, verdict.reason, runs)
    message = (
        f"production (version {production.version}) no longer meets its gate on the changed experiment: "
        f"{verdict.reason} Change the prompt or the experiment in git."
    )
    return PromptSyncResult(p.name, p.status, "rejected", production.version, None, verdict, message, runs)
