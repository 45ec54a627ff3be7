"""check: the read-only PR gate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from promptops.api.settings import Settings, registry_for
from promptops.api.validating import checked
from promptops.model import Diagnostic, Project
from promptops.plan import PromptPlan
from promptops.registry.base import Registry
from promptops.report import PromptCheck

if TYPE_CHECKING:
    from promptops.experiments import Progress
    from promptops.sharded import ShardOptions, ShardSummary


@dataclass(frozen=True)
class CheckResult:
    """The outcome of `check`: validation problems, and a verdict per prompt the branch changes."""

    base: str
    registry: str
    diagnostics: tuple[Diagnostic, ...]
    prompts: tuple[PromptCheck, ...]
    fallback: str = ""  # why the baseline came from the base ref although credentials are set ("" otherwise)
    trace_urls: Mapping[str, str] = field(default_factory=dict)  # Langfuse links of traced items (trace_links=True)
    shards: ShardSummary | None = None  # a shard's results file, or the shards joined (--shard, --from)

    @property
    def passed(self) -> bool:
        """Return whether the PR gate passes."""
        return not any(d.severity == "error" for d in self.diagnostics) and all(p.passed for p in self.prompts)


def check(
    settings: Settings,
    *,
    base: str | None = None,
    record: bool = False,
    progress: Progress | None = None,
    trace_links: bool = False,
    responses: str | None = None,
    shards: ShardOptions | None = None,
    custom_code: str | None = None,
) -> CheckResult:
    """The read-only PR gate: validate, then judge each prompt the branch changes against its baseline.

    `shards`: run one shard of the experiments into a results file (resuming from it), or judge joined shards.
    """
    from promptops import gitinfo, sharded
    from promptops.experiments import recorded, runner_for, session_for, tracer_for
    from promptops.gitinfo import head_commit
    from promptops.pr_check import check_prompts
    from promptops.tracelinks import runs_of, trace_urls
    from promptops.tracing.base import NullTracer

    shard_session = sharded.session(shards, settings.root, "check", head_commit(settings.root))
    project, found = checked(settings)
    diagnostics = tuple(found)
    base_ref = base or gitinfo.default_base(settings.root)
    base_commit = gitinfo.merge_base(settings.root, base_ref)
    label = f"{base_ref} ({base_commit[:12]})"
    if any(d.severity == "error" for d in diagnostics):
        shard_session.close()  # nothing ran: the results file says so
        return CheckResult(label, "not reached", diagnostics, (), shards=shard_session.summary())
    from promptops.custom_code import guard_for

    guard = guard_for(settings.root, base_commit, settings.config, custom_code)  # before any PR code can run
    reg, plans, why_not = _readable_registry(settings, project)
    try:
        tracing = tracer_for(settings.root, settings.config, reg) if record and reg else NullTracer()
        with recorded(shard_session.tracer(tracing)) as tracer, shard_session:
            session = session_for(settings.root, settings.config, responses)
            commit = head_commit(settings.root)
            run = runner_for(tracer, progress, git_commit=commit, session=session, hooks=shard_session.hooks)
            prompts = check_prompts(project, base_commit, reg, plans, run, guard)
            urls = trace_urls(tracer, runs_of(p.runs for p in prompts)) if trace_links else {}
        source = reg.describe() if reg else f"the base ref {base_ref} ({why_not})"
        fallback = why_not if reg is None and why_not.startswith("registry unreachable") else ""
        return CheckResult(label, source, diagnostics, tuple(prompts), fallback, urls, shard_session.summary())
    finally:
        if reg is not None:
            reg.close()


def _readable_registry(settings: Settings, project: Project) -> tuple[Registry | None, dict[str, PromptPlan], str]:
    """Return the registry and what sync would do for each prompt when it can be read without writing; else why not.

    A fork PR has no credentials and no database; an unreachable Langfuse must not block a PR either: the
    baseline then comes from the base ref, and the report says why. Keys that Langfuse rejects (401/403) are
    a configuration error, not an outage: that fails the check instead of passing it on the base ref.
    """
    from promptops.errors import RegistryAuthError, RegistryError
    from promptops.registry import resolve_name

    name = resolve_name(settings.registry, settings.config.registry)
    if name == "local" and not (settings.root / settings.config.registry_path).is_file():
        return None, {}, "no registry: no credentials and no local registry file"  # opening would create it
    from promptops.api.planning import plans_for

    reg = registry_for(settings)
    try:
        plans = plans_for(project, [project.rendered_prompt(spec) for spec in project.prompts], reg)
        return reg, {p.name: p for p in plans}, ""
    except RegistryAuthError:
        reg.close()
        raise
    except RegistryError as exc:
        reg.close()
        return None, {}, f"registry unreachable: {exc}"
