"""Test helpers: build prompt repositories in tmp dirs and run the real CLI in-process."""

from __future__ import annotations

import subprocess
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from promptops.cli import main

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_PROMPTS = REPO_ROOT / "prompts"


@dataclass(frozen=True)
class Run:
    """The outcome of one CLI invocation."""

    code: int
    out: str
    err: str


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    """Run `promptops ARGS` through the real entry point and return exit code, stdout and stderr."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    code = exc.value.code
    return Run(code if isinstance(code, int) else (0 if code is None else 1), out, err)


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    """Write files (text is dedented) below root, creating folders."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"), "utf-8")


def make_project(root: Path, files: dict[str, str | bytes] | None = None, *, examples: bool = False) -> Path:
    """Create a promptops project (promptops.yaml) at root, optionally with a copy of the example prompts."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "promptops.yaml").write_text("prompts_dir: prompts\n", "utf-8")
    if examples:
        for path in EXAMPLE_PROMPTS.rglob("*"):
            if path.is_file():
                target = root / "prompts" / path.relative_to(EXAMPLE_PROMPTS)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes())
    write_files(root, files or {})
    return root


def git(root: Path, *args: str) -> str:
    """Run git in root and return its stdout."""
    result = subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True)
    return result.stdout


def git_identity(root: Path) -> None:
    """Give the repository at root its own committer (the test session has no global git config)."""
    git(root, "config", "user.email", "test@example.com")
    git(root, "config", "user.name", "Test")


def git_init(root: Path) -> None:
    """Make root a git repository with one commit of everything in it."""
    git(root, "init", "-q", "-b", "main")
    git_identity(root)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial prompts")


def git_clone(source: Path, dest: Path) -> None:
    """Clone a repository and give the clone its own committer."""
    git(source.parent, "clone", "-q", str(source), str(dest))
    git_identity(dest)


def example_repo(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository with the example prompts, without Langfuse keys, as the current folder."""
    monkeypatch.delenv("LANGFUSE_PUBLIC_KEY", raising=False)
    monkeypatch.delenv("LANGFUSE_SECRET_KEY", raising=False)
    make_project(root, examples=True)
    git_init(root)
    monkeypatch.chdir(root)
    return root


def sdk_compile(rendered: Any, values: Mapping[str, Any]) -> Any:
    """Return what the installed langfuse SDK's own `compile()` gives for a rendered prompt (the reference)."""
    import logging

    from langfuse.api import Prompt_Chat, Prompt_Text
    from langfuse.model import ChatPromptClient, TextPromptClient

    common: dict[str, Any] = {"name": rendered.name, "version": 1, "config": {}, "labels": [], "tags": []}
    logging.getLogger("langfuse").setLevel(logging.ERROR)  # its warnings on unresolved placeholders
    if isinstance(rendered.prompt, str):
        return TextPromptClient(Prompt_Text(type="text", prompt=rendered.prompt, **common)).compile(**values)
    messages: list[Any] = [
        {"type": "placeholder", "name": m["name"]}
        if m.get("type") == "placeholder"
        else {"type": "chatmessage", "role": m["role"], "content": m["content"]}
        for m in rendered.prompt
    ]
    compiled = ChatPromptClient(Prompt_Chat(type="chat", prompt=messages, **common)).compile(**values)
    return [dict(m) for m in compiled]
