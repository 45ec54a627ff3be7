"""Create registry versions from git with their provenance (the effect behind push and sync).

A version records the commit that last changed the prompt's sources (its YAML, template and partials), not
whatever HEAD was when sync ran: that is the commit `history` shows and `restore` reads the files from. A
version made from uncommitted files (`--allow-dirty`) says so instead of claiming a commit that lacks them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from promptops import gitinfo
from promptops.errors import PromptopsError
from promptops.model import Project
from promptops.plan import PromptPlan
from promptops.registry.base import PromptVersion, Provenance, Registry

COMMIT_MESSAGE_MAX = 500  # Langfuse's limit (REFERENCE §2.4)
CREATES_VERSION = ("new", "changed", "changed-outside-git")


class DirtyTree(PromptopsError):
    """The prompts folder has uncommitted changes, so no commit describes what would be stored."""


@dataclass(frozen=True)
class Origin:
    """Where a prompt's content comes from in git."""

    commit: str | None  # the newest commit that changed its sources (HEAD when they have uncommitted changes)
    dirty: bool = False


def needs_version(plan: PromptPlan) -> bool:
    """Return whether git's content must become a new version for this plan."""
    return plan.status in CREATES_VERSION


def refuse_dirty(project: Project, verb: str) -> list[str]:
    """Raise DirtyTree when the prompts folder has uncommitted changes; return them otherwise (none)."""
    changed = gitinfo.uncommitted(project.root, project.prompts_root)
    if changed:
        shown = "\n".join(f"  {path}" for path in changed[:20])
        more = f"\n  ... and {len(changed) - 20} more" if len(changed) > 20 else ""
        raise DirtyTree(
            f"{verb} refuses uncommitted changes under {project.config.prompts_dir}/: no git commit holds what it "
            f"would store.\n{shown}{more}\ncommit them first, or pass --allow-dirty to record these versions "
            "as made from uncommitted files"
        )
    return changed


def origin_of(project: Project, name: str, dirty_files: Collection[str]) -> Origin:
    """Return the commit that last changed a prompt's source files, and whether any of them is uncommitted."""
    from promptops.sources import source_files

    spec = project.prompt(name)
    if spec is None:
        return Origin(gitinfo.head_commit(project.root))
    paths = source_files(spec, project.root, project.prompts_root)
    if dirty_files:
        top = gitinfo.worktree_root(project.root).resolve()
        mine = {p.resolve().relative_to(top).as_posix() for p in paths if p.resolve().is_relative_to(top)}
        if mine & set(dirty_files):
            return Origin(gitinfo.head_commit(project.root), dirty=True)
    return Origin(gitinfo.last_commit(project.root, paths) or gitinfo.head_commit(project.root))


def commit_message(root: Path, origin: Origin) -> str:
    """Return the version's commit message: the git commit's subject (masked), short hash, and if dirty."""
    from promptops.sensitive import configured_patterns, redact

    commit = origin.commit
    if commit is None:
        return "promptops: from a working tree outside git"
    subject = gitinfo.commit_subject(root, commit) or ""
    # Masked like everything sent to Langfuse: a commit subject can quote an email, a key or a customer.
    subject = redact(subject, configured_patterns())
    message = f"{subject} (git {commit[:12]})" if subject else f"git {commit[:12]}"
    if origin.dirty:
        message = f"uncommitted changes on top of {message}"
    return message[:COMMIT_MESSAGE_MAX]


def create_version(registry: Registry, plan: PromptPlan, root: Path, origin: Origin) -> PromptVersion:
    """Create (or find: content is stored once) the version of a planned prompt, with its provenance."""
    assert plan.rendered is not None
    expected = (plan.state.latest_version if plan.state else 0) + 1
    provenance = Provenance(
        plan.rendered.content_hash, origin.commit, plan.rendered.source_path, expected, dirty=origin.dirty
    )
    return registry.create_version(
        plan.rendered, provenance, labels=plan.rendered.labels, commit_message=commit_message(root, origin)
    )
