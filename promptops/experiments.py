"""Wire an experiment run: where it is recorded (tracer) and how one subject runs (the runner)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, cast

from promptops.errors import ConfigError
from promptops.model import RESPONSES_MODES, DatasetSpec, ProjectConfig, PromptSpec, ResponsesMode
from promptops.registry.base import Registry
from promptops.results import ExperimentResult
from promptops.runner import RunHooks, Subject
from promptops.tracing.base import Tracer

if TYPE_CHECKING:
    from promptops.model_calls import ModelSession

# Progress: given a title, returns a callback (done, total) for one run; the CLI draws it on stderr.
Progress = Callable[[str], Callable[[int, int], None]]
RunFn = Callable[[Subject, DatasetSpec, PromptSpec], ExperimentResult]
HooksFor = Callable[[Subject, DatasetSpec, PromptSpec], RunHooks]  # one run's hooks (promptops/sharded.py)


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


def session_for(root: Path, config: ProjectConfig, responses: str | None = None) -> ModelSession:
    """Return one command's model session: recordings in `responses` mode (else the config's), prices, budget."""
    from promptops.model_calls import ModelSession
    from promptops.responses import ResponseStore

    mode = responses or config.responses.mode
    if mode not in RESPONSES_MODES:
        raise ConfigError(f"--responses must be one of {', '.join(RESPONSES_MODES)}, got {mode!r}")
    folder = root / (config.responses.dir or f"{config.prompts_dir}/_responses")
    store = ResponseStore(folder, root=root, redact_patterns=config.redact_patterns)
    return ModelSession(mode=cast(ResponsesMode, mode), store=store, prices=config.prices, budget=config.budget)


class Runner:
    """Runs one subject's experiment through the command's model session; also estimates against budgets."""

    def __init__(
        self,
        tracer: Tracer,
        progress: Progress | None,
        *,
        git_commit: str | None,
        session: ModelSession,
        linked: bool = True,
        hooks: HooksFor | None = None,
    ) -> None:
        from promptops.tracing.base import DATASET_LINK, UNLINKED

        self.tracer, self.progress, self.session, self.hooks = tracer, progress, session, hooks
        metadata = {"git_commit": git_commit} if git_commit else {}
        if not linked:
            # The items are not the registry's dataset (uncommitted or not uploaded): traces do not point at it.
            metadata[DATASET_LINK] = UNLINKED
        self.metadata = metadata or None

    def __call__(self, subject: Subject, dataset: DatasetSpec, spec: PromptSpec) -> ExperimentResult:
        """Run `spec`'s experiment for `subject` on `dataset`."""
        from promptops import runner

        assert spec.experiment is not None
        callback = self.progress(f"{spec.name}: {subject.description}") if self.progress else None
        calls = self.session.run_calls(
            spec.name, subject.rendered.content_hash, spec.experiment, budget=spec.budget
        )
        return runner.run(
            subject, dataset, spec.experiment, tracer=self.tracer, progress=callback, metadata=self.metadata,
            calls=calls, hooks=self.hooks(subject, dataset, spec) if self.hooks else None,
        )  # fmt: skip

    def preflight(self, spec: PromptSpec, dataset: DatasetSpec, subjects: Sequence[Subject]) -> None:
        """Refuse (BudgetExceeded) before anything runs when these subjects' runs would not fit a budget."""
        assert spec.experiment is not None
        hashes = [s.rendered.content_hash for s in subjects]
        self.session.preflight(spec.name, spec.experiment, dataset, hashes, spec.budget)


def runner_for(
    tracer: Tracer,
    progress: Progress | None,
    *,
    git_commit: str | None = None,
    linked: bool = True,
    session: ModelSession | None = None,
    hooks: HooksFor | None = None,
) -> Runner:
    """Return a runner for one subject's experiment, recorded by `tracer` with the git commit.

    `linked=False`: the items are not the registry's dataset (uncommitted or not uploaded), so the run's traces
    do not point at the registry's dataset items. `hooks` runs part of each plan (a shard, a resume, a join).
    """
    from promptops.model_calls import ModelSession

    return Runner(
        tracer, progress, git_commit=git_commit, session=session or ModelSession(), linked=linked, hooks=hooks
    )
