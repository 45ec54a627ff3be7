"""Wire an experiment run: where it is recorded (tracer) and how one subject runs (the runner)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from promptops.model import DatasetSpec, ProjectConfig, PromptSpec
from promptops.registry.base import Registry
from promptops.results import ExperimentResult
from promptops.runner import Subject
from promptops.tracing.base import Tracer

# Progress: given a title, returns a callback (done, total) for one run; the CLI draws it on stderr.
Progress = Callable[[str], Callable[[int, int], None]]
RunFn = Callable[[Subject, DatasetSpec, PromptSpec], ExperimentResult]


def tracer_for(root: Path, config: ProjectConfig, registry: Registry) -> Tracer:
    """Record runs where the registry lives: traces in Langfuse, or the local runs database."""
    if registry.name == "langfuse":
        from promptops.tracing.langfuse import LangfuseTracer

        return LangfuseTracer(registry.client, redact_patterns=config.redact_patterns)  # type: ignore[attr-defined]
    from promptops.tracing.local import LocalTracer

    return LocalTracer(root / Path(config.registry_path).parent / "runs.db")


@contextmanager
def recorded(tracer: Tracer) -> Iterator[Tracer]:
    """Yield the tracer, then deliver what it holds and release it, whatever happened in between."""
    try:
        yield tracer
    finally:
        tracer.close()


def runner_for(
    tracer: Tracer, progress: Progress | None, *, git_commit: str | None = None, linked: bool = True
) -> RunFn:
    """Return a function that runs one subject's experiment, recorded by `tracer` with the git commit.

    `linked=False`: the items are not the registry's dataset (uncommitted or not uploaded), so the run's traces
    do not point at the registry's dataset items.
    """
    from promptops import runner
    from promptops.tracing.base import DATASET_LINK, UNLINKED

    metadata = {"git_commit": git_commit} if git_commit else {}
    if not linked:
        metadata[DATASET_LINK] = UNLINKED

    def run(subject: Subject, dataset: DatasetSpec, spec: PromptSpec) -> ExperimentResult:
        assert spec.experiment is not None
        callback = progress(f"{spec.name}: {subject.description}") if progress else None
        return runner.run(
            subject, dataset, spec.experiment, tracer=tracer, progress=callback, metadata=metadata or None
        )

    return run
