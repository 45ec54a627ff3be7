"""Create registry versions from git with their provenance (the effect behind push and sync)."""

from __future__ import annotations

from pathlib import Path

from promptops import gitinfo
from promptops.plan import PromptPlan
from promptops.registry.base import PromptVersion, Provenance, Registry

COMMIT_MESSAGE_MAX = 500  # Langfuse's limit (REFERENCE §2.4)
CREATES_VERSION = ("new", "changed", "changed-outside-git")


def needs_version(plan: PromptPlan) -> bool:
    """Return whether git's content must become a new version for this plan."""
    return plan.status in CREATES_VERSION


def commit_message(root: Path, commit: str | None) -> str:
    """Return the version's commit message: the git commit's subject and short hash."""
    if commit is None:
        return "promptops: from a working tree outside git"
    subject = gitinfo.commit_subject(root, commit) or ""
    message = f"{subject} (git {commit[:12]})" if subject else f"git {commit[:12]}"
    return message[:COMMIT_MESSAGE_MAX]


def create_version(registry: Registry, plan: PromptPlan, root: Path) -> PromptVersion:
    """Create the next version of a planned prompt, recording hash, commit and source path."""
    assert plan.rendered is not None
    commit = gitinfo.head_commit(root)
    expected = (plan.state.latest_version if plan.state else 0) + 1
    provenance = Provenance(plan.rendered.content_hash, commit, plan.rendered.source_path, expected)
    return registry.create_version(
        plan.rendered, provenance, labels=plan.rendered.labels, commit_message=commit_message(root, commit)
    )
