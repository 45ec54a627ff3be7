"""One function per verb. Each takes settings and arguments and returns values; none of them prints.

The verbs live in modules by idea (reading the repository, planning, releasing, experimenting, the PR gate);
this package exposes them all, so callers write `api.sync(settings, ...)`.
"""

from promptops.api.adopting import ImportResult, PullResult, import_prompts, pull
from promptops.api.checking import CheckResult, check
from promptops.api.experimenting import ExperimentOutcome, experiment
from promptops.api.planning import DiffResult, PromptDiff, diff
from promptops.api.releasing import (
    HistoryResult,
    PushResult,
    RestoreResult,
    RollbackResult,
    SyncResult,
    history,
    push,
    restore,
    rollback,
    sync,
)
from promptops.api.settings import Settings, load, load_settings, opened_registry, registry_for
from promptops.api.validating import (
    RenderResult,
    ValidationResult,
    checked,
    render,
    rendered_prompts,
    valid_project,
    validate,
)

__all__ = [
    "CheckResult",
    "DiffResult",
    "ExperimentOutcome",
    "HistoryResult",
    "ImportResult",
    "PullResult",
    "PromptDiff",
    "PushResult",
    "RenderResult",
    "RestoreResult",
    "RollbackResult",
    "Settings",
    "SyncResult",
    "ValidationResult",
    "check",
    "checked",
    "diff",
    "experiment",
    "history",
    "import_prompts",
    "pull",
    "load",
    "load_settings",
    "opened_registry",
    "push",
    "registry_for",
    "render",
    "rendered_prompts",
    "restore",
    "rollback",
    "sync",
    "valid_project",
    "validate",
]
