"""Judge one prompt's candidate against its production baseline, then promote or reject it (sync's effects).

Crash safety comes from the order of effects: a version is created first (its provenance makes a rerun find it
as `pending`), then judged, then production and release-N move in ONE registry call that re-checks production is
still the baseline that was measured (Registry.promote). A run killed anywhere leaves a state the next run
converges from, and of two runs at once only one promotes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from promptops.errors import Interrupted
from promptops.experiments import RunFn
from promptops.gate import Verdict, judge
from promptops.model import DatasetSpec, GatePolicy, Project, PromptSpec, RenderedPrompt
from promptops.plan import PromptPlan
from promptops.registry.base import PRODUCTION, REJECTED, PromptVersion, Registry, release_numbers, user_config
from promptops.render import content_hash
from promptops.results import ExperimentResult
from promptops.runner import INTERRUPTED, Subject

Outcome = Literal["promoted", "rejected", "conflict", "already-promoted"]


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
    """Run candidate and baseline on the same dataset, model, evaluators and seed, and judge them."""
    policy = spec.gate or GatePolicy(primary=spec.experiment.evaluators[0].name if spec.experiment else "")
    cand_result = _finished(run(candidate, dataset, spec))
    base_result = _finished(run(baseline, dataset, spec)) if baseline is not None else None
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


def decide(registry: Registry, name: str, candidate: int, baseline: int | None, verdict: Verdict) -> Decision:
    """Promote a passing candidate (if production is still the measured baseline) or mark it rejected."""
    if not verdict.passed:
        registry.set_labels(name, candidate, [REJECTED])
        return Decision(name, candidate, "rejected", verdict, message=verdict.reason)
    outcome, release, message = promote_over(registry, name, candidate, baseline)
    return Decision(name, candidate, outcome, verdict, release, message or verdict.reason)


def promote_over(
    registry: Registry, name: str, candidate: int, baseline: int | None
) -> tuple[Outcome, str | None, str]:
    """Move production and the next release-N to the candidate unless production left `baseline` meanwhile.

    Returns (outcome, release label, message); the message is empty for a promotion.
    """
    from promptops.errors import ConcurrentChange

    try:
        promoted = registry.promote(name, candidate, expect_production=baseline)
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


def decided_already(candidate: PromptVersion, baseline: PromptVersion | None) -> tuple[str, str] | None:
    """Return (outcome, message) when another run has already decided the candidate since this run planned."""
    if baseline is not None and baseline.version == candidate.version:
        # Judging production against itself would reject it: the gate needs a candidate that beats its baseline.
        return "already-promoted", "another run promoted it already"
    if release_numbers(candidate.labels):
        where = f"version {baseline.version}" if baseline else "no version"
        return "rolled-back", f"version {candidate.version} was released and rolled back; production is on {where}"
    if REJECTED in candidate.labels:
        return "rejected-earlier", f"version {candidate.version} was rejected by the gate; change the prompt in git"
    return None


@dataclass(frozen=True)
class PromptSyncResult:
    """What sync did (or, with --dry-run, would do) for one prompt."""

    name: str
    status: str  # the plan status before sync
    outcome: str  # promoted, rejected, conflict, already-promoted, unchanged, rolled-back, rejected-earlier, orphan
    version: int | None = None
    release: str | None = None
    verdict: Verdict | None = None
    message: str = ""

    @property
    def failed(self) -> bool:
        """Return whether this prompt makes sync exit 1."""
        return self.outcome in ("rejected", "conflict")


SKIPPED_OUTCOMES = {
    "unchanged": "unchanged",
    "rolled-back": "rolled-back",
    "rejected": "rejected-earlier",
    "orphan": "orphan",
}


def sync_prompt(root: Path, project: Project, reg: Registry, p: PromptPlan, run: RunFn) -> PromptSyncResult:
    """Create, judge and promote or reject one planned prompt; skip statuses sync leaves alone."""
    from promptops import publish

    if p.status in SKIPPED_OUTCOMES:
        return PromptSyncResult(
            p.name, p.status, SKIPPED_OUTCOMES[p.status], p.state.latest_version if p.state else None, message=p.action
        )
    spec = project.prompt(p.name)
    assert spec is not None and (p.state is not None or publish.needs_version(p))  # only orphans lack a spec
    candidate = (
        publish.create_version(reg, p, root)
        if publish.needs_version(p)
        else reg.get_version(p.name, version=p.state.latest_version)  # type: ignore[union-attr]
    )
    baseline = baseline_version(reg, p.name)
    # The plan may be stale: a concurrent run can have created, judged and decided this very version meanwhile.
    settled = decided_already(candidate, baseline)
    if settled is not None:
        return PromptSyncResult(p.name, p.status, settled[0], candidate.version, message=settled[1])
    if spec.experiment is None:
        # An explicit opt-out (`experiment: {skip: why}`): there is nothing to judge, so the version ships.
        baseline_number = baseline.version if baseline else None
        outcome, release, message = promote_over(reg, p.name, candidate.version, baseline_number)
        message = message or f"promoted without a gate: {spec.no_experiment_reason}"
        return PromptSyncResult(p.name, p.status, outcome, candidate.version, release, None, message)
    dataset = project.dataset(spec.experiment.dataset)
    assert dataset is not None  # validation guarantees it
    base_subject = version_subject(baseline, spec.path, "production") if baseline is not None else None
    cand_subject = version_subject(candidate, spec.path, "candidate")
    verdict, _, _ = evaluate(spec, dataset, cand_subject, base_subject, run)
    decision = decide(reg, p.name, candidate.version, baseline.version if baseline else None, verdict)
    return PromptSyncResult(
        p.name, p.status, decision.outcome, candidate.version, decision.release, verdict, decision.message
    )
