"""One function per verb. Each takes settings and arguments and returns values; none of them prints.

The verbs live in modules by idea (reading the repository, planning, releasing, experimenting, the PR gate,
adopting a registry); this package exposes them all, so callers write `api.sync(settings, ...)`. They are
imported on first use (PEP 562), so a command pays only for the modules its verb needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> the module under promptops.api that defines it
_WHERE = {
    **dict.fromkeys(["ImportResult", "PullResult", "import_prompts", "pull"], "adopting"),
    **dict.fromkeys(["CheckResult", "check"], "checking"),
    **dict.fromkeys(["ExperimentOutcome", "experiment"], "experimenting"),
    **dict.fromkeys(["MergeResult", "merge"], "merging"),
    **dict.fromkeys(["DiffResult", "PromptDiff", "diff"], "planning"),
    **dict.fromkeys(
        [
            "HistoryResult",
            "PushResult",
            "RestoreResult",
            "RollbackResult",
            "SyncResult",
            "history",
            "push",
            "restore",
            "rollback",
            "sync",
        ],
        "releasing",
    ),
    **dict.fromkeys(["Settings", "load", "load_settings", "opened_registry", "registry_for"], "settings"),
    **dict.fromkeys(
        ["RenderResult", "ValidationResult", "checked", "render", "rendered_prompts", "valid_project", "validate"],
        "validating",
    ),
}
__all__ = [
    "CheckResult",
    "DiffResult",
    "ExperimentOutcome",
    "HistoryResult",
    "ImportResult",
    "MergeResult",
    "PromptDiff",
    "PullResult",
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
    "load",
    "load_settings",
    "merge",
    "opened_registry",
    "pull",
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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'promptops.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"promptops.api.{module}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from promptops.api.adopting import ImportResult, PullResult, import_prompts, pull
    from promptops.api.checking import CheckResult, check
    from promptops.api.experimenting import ExperimentOutcome, experiment
    from promptops.api.merging import MergeResult, merge
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
