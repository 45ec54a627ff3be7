"""What promptops asks git, on real repositories: HEAD, the work tree, uncommitted, tracked and changed files."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptops import gitinfo
from tests.helpers import git, git_identity, write_files


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write_files(root, {
        "project/prompts/a.yaml": "a\n", "project/prompts/old name.yaml": "b\n", "project/prompts/é.yaml": "c\n",
        "project/prompts/gone.yaml": "d\n", "elsewhere.txt": "e\n", ".gitignore": "*.log\n",
    })  # fmt: skip
    git(root, "init", "-q", "-b", "main")
    git_identity(root)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "one")
    return root


def test_head_commit(tmp_path: Path, repo: Path) -> None:
    assert gitinfo.head_commit(repo / "project") == git(repo, "rev-parse", "HEAD").strip()
    assert gitinfo.head_commit(tmp_path / "nowhere-near-git") is None
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    git(fresh, "init", "-q")
    assert gitinfo.head_commit(fresh) is None  # before the first commit


def test_worktree_root_from_a_subfolder(tmp_path: Path, repo: Path) -> None:
    assert gitinfo.worktree_root(repo / "project" / "prompts").resolve() == repo.resolve()
    (tmp_path / "plain").mkdir()
    with pytest.raises(gitinfo.GitError, match="is not inside a git repository"):
        gitinfo.worktree_root(tmp_path / "plain")


def test_uncommitted_lists_every_kind_of_change_under_the_folder_only(repo: Path) -> None:
    prompts = repo / "project" / "prompts"
    assert gitinfo.uncommitted(repo / "project", prompts) == []
    write_files(repo, {"project/prompts/a.yaml": "edited\n", "project/prompts/new.yaml": "n\n", "elsewhere.txt": "x"})
    write_files(repo, {"project/prompts/debug.log": "ignored\n"})
    (prompts / "gone.yaml").unlink()
    git(repo, "mv", "project/prompts/old name.yaml", "project/prompts/new name.yaml")
    assert gitinfo.uncommitted(repo / "project", prompts) == [
        "project/prompts/a.yaml", "project/prompts/gone.yaml", "project/prompts/new name.yaml",
        "project/prompts/new.yaml",
    ]  # fmt: skip


def test_tracked_files_are_relative_to_the_folder(tmp_path: Path, repo: Path) -> None:
    write_files(repo, {"project/prompts/untracked.yaml": "u\n"})
    assert gitinfo.tracked_files(repo / "project" / "prompts") == {"a.yaml", "old name.yaml", "é.yaml", "gone.yaml"}
    assert "elsewhere.txt" in (gitinfo.tracked_files(repo) or ())
    (tmp_path / "plain").mkdir()
    assert gitinfo.tracked_files(tmp_path / "plain") is None


def test_changed_files_since_a_base(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD").strip()
    write_files(repo, {"project/prompts/a.yaml": "edited\n", "project/prompts/new.yaml": "n\n"})
    git(repo, "add", "project/prompts/a.yaml")
    git(repo, "commit", "-q", "-m", "two")
    write_files(repo, {"elsewhere.txt": "dirty\n"})
    assert gitinfo.changed_files(repo / "project", base) == [
        "elsewhere.txt", "project/prompts/a.yaml", "project/prompts/new.yaml"
    ]  # fmt: skip
    with pytest.raises(gitinfo.GitError, match="git cannot compare with 'no-such-ref'"):
        gitinfo.changed_files(repo, "no-such-ref")
