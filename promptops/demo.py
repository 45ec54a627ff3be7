"""The seed's story end to end: one observed support flow, traced with its three scores.

One dataset item of a prompt's experiment (support-agent on a support-faq question by default) runs
through the experiment runner, so the trace is exactly what experiments write: retrieve -> rank ->
prompt-managed-call under one root, the item's user and session propagated to every span, the generation
linked to the production version when the registry has one, and the seed's three scores: groundedness
(numeric), user_feedback (categorical) and resolved (boolean). It goes to Langfuse when that is the
registry, else to the local runs database, which is read back to show what was written.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptops.errors import ExperimentError, LabelNotFound, PromptNotFound
from promptops.model import DatasetItem, DatasetSpec, EvaluatorSpec, Project, PromptSpec
from promptops.sensitive import redact

if TYPE_CHECKING:
    from promptops.api import Settings
    from promptops.registry.base import Registry
    from promptops.tracing.base import Subject, Tracer
    from promptops.tracing.local import LocalTracer

DEFAULT_PROMPT = "support-agent"
# The seed's three signals, whatever the prompt's own experiment scores.
EVALUATORS = (
    EvaluatorSpec("groundedness", "groundedness"),
    EvaluatorSpec("user_feedback", "feedback"),
    EvaluatorSpec("resolved", "contains"),
)


@dataclass(frozen=True)
class DemoSpan:
    """A span as the local store recorded it: name, observation type, depth in the tree, linked prompt."""

    name: str
    type: str
    depth: int
    prompt: str | None = None  # "name vN" on a generation linked to a prompt version


@dataclass(frozen=True)
class DemoScore:
    """A score attached to the trace."""

    name: str
    value: float | str | bool
    data_type: str


@dataclass(frozen=True)
class DemoResult:
    """What the demo traced and where to find it; every text is redacted as the trace is."""

    prompt: str
    subject: str  # e.g. "version 3 (production)", or "working tree" when the registry has no production
    version: int | None
    dataset: str
    item_id: str
    user_id: str | None
    session_id: str | None
    question: str
    answer: str | None
    error: str | None
    backend: str  # langfuse | local
    where: str  # the registry description (Langfuse) or the runs database path (local)
    run_id: str
    trace_id: str | None
    trace_url: str | None
    spans: tuple[DemoSpan, ...]  # read back from the local store; Langfuse ingests asynchronously
    scores: tuple[DemoScore, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        from dataclasses import asdict

        return asdict(self)


def trace_demo(settings: Settings, *, prompt: str = DEFAULT_PROMPT, item_id: str | None = None) -> DemoResult:
    """Trace one item of `prompt`'s dataset (the first, or `item_id`) with the seed's three scores."""
    from promptops import api

    project = api.valid_project(settings)
    spec, dataset = _prompt_and_dataset(project, prompt)
    item = _item(dataset, item_id)
    reg = api.registry_for(settings)
    try:
        subject = _subject(reg, spec, project)
        return _run(settings, reg, subject, spec, replace(dataset, items=(item,)))
    finally:
        reg.close()


def _prompt_and_dataset(project: Project, name: str) -> tuple[PromptSpec, DatasetSpec]:
    spec = project.prompt(name)
    if spec is None:
        known = ", ".join(p.name for p in project.prompts) or "none"
        raise PromptNotFound(f"no prompt named {name!r} in the project (prompts: {known})")
    if spec.experiment is None:
        raise ExperimentError(f"{name} has no experiment, so no dataset to take a question from")
    dataset = project.dataset(spec.experiment.dataset)
    assert dataset is not None  # validation guarantees it
    return spec, dataset


def _item(dataset: DatasetSpec, item_id: str | None) -> DatasetItem:
    found = next((i for i in dataset.items if item_id is None or i.id == item_id), None)
    if found is None:
        known = ", ".join(i.id for i in dataset.items) or "none"
        raise ExperimentError(f"dataset {dataset.name} has no item {item_id!r} (items: {known})")
    return found


def _subject(reg: Registry, spec: PromptSpec, project: Project) -> Subject:
    """Return the production version, as an app would serve it; the working tree when there is none yet."""
    from promptops import promote
    from promptops import render as rendering
    from promptops.registry.labels import PRODUCTION
    from promptops.tracing.base import Subject

    try:
        stored = reg.get_version(spec.name, label=PRODUCTION)
    except (PromptNotFound, LabelNotFound):
        return Subject(rendering.render(spec, project.prompts_root, project.root), None, "working tree")
    rendered = promote.rendered_from_version(stored, spec.path)
    return Subject(rendered, stored.version, f"version {stored.version} ({PRODUCTION})")


def _run(settings: Settings, reg: Registry, subject: Subject, spec: PromptSpec, dataset: DatasetSpec) -> DemoResult:
    from promptops import runner
    from promptops.experiments import recorded, tracer_for
    from promptops.gitinfo import head_commit

    assert spec.experiment is not None
    experiment = replace(spec.experiment, evaluators=EVALUATORS, repeats=1, concurrency=1)
    commit = head_commit(settings.root)
    with recorded(tracer_for(settings.root, settings.config, reg)) as tracer:  # nothing stays queued at exit
        result = runner.run(
            subject, dataset, experiment, tracer=tracer, metadata={"git_commit": commit} if commit else None
        )
        outcome = result.items[0]
        where, url, spans = _recorded(tracer, reg, outcome.trace_id, settings.root)
    patterns = settings.config.redact_patterns

    def masked(value: Any) -> str | None:
        return None if value is None else redact(str(value), patterns)

    item = dataset.items[0]
    return DemoResult(
        prompt=subject.rendered.name,
        subject=subject.description,
        version=subject.version,
        dataset=dataset.name,
        item_id=item.id,
        user_id=masked(item.metadata.get("user_id")),
        session_id=masked(item.metadata.get("session_id")),
        question=masked(item.input.get("question", dict(item.input))) or "",
        answer=masked(outcome.output),
        error=masked(outcome.error),
        backend=tracer.name,
        where=where,
        run_id=result.run_id,
        trace_id=outcome.trace_id,
        trace_url=url,
        spans=spans,
        scores=tuple(DemoScore(s.name, s.value, s.data_type) for s in outcome.scores),
    )


def _recorded(
    tracer: Tracer, reg: Registry, trace_id: str | None, root: Path
) -> tuple[str, str | None, tuple[DemoSpan, ...]]:
    """Return where the trace is, its Langfuse URL, and (local store) the spans read back from it."""
    from promptops.tracing.local import LocalTracer

    if isinstance(tracer, LocalTracer):
        path = tracer.path.resolve()
        where = path.relative_to(root.resolve()).as_posix() if path.is_relative_to(root.resolve()) else str(path)
        return where, None, _local_spans(tracer, trace_id) if trace_id else ()
    return reg.describe(), _trace_url(tracer, trace_id), ()


def _trace_url(tracer: Any, trace_id: str | None) -> str | None:
    import httpx
    from langfuse.api.core.api_error import ApiError

    if trace_id is None:
        return None
    try:
        url: str | None = tracer.client.get_trace_url(trace_id=trace_id)
    except (ApiError, httpx.HTTPError):  # the link costs a projects request; without it the trace id still finds it
        return None
    return url


def _local_spans(tracer: LocalTracer, trace_id: str) -> tuple[DemoSpan, ...]:
    depth: dict[str | None, int] = {None: -1}
    spans = []
    for record in tracer.spans(trace_id):  # root first, then in start order: a parent precedes its children
        depth[record.span_id] = depth.get(record.parent_id, 0) + 1
        name, version = record.attributes.get("prompt_name"), record.attributes.get("prompt_version")
        linked = f"{name} v{version}" if name is not None and version is not None else None
        spans.append(DemoSpan(record.name, record.type, depth[record.span_id], linked))
    return tuple(spans)
