"""The house rules that tools can check: ruff's lint rules on everything, mypy on the package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO_ROOT


def _tool(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True)


def test_ruff_finds_nothing() -> None:
    result = _tool("ruff", "check", "--no-cache", "promptops", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing(tmp_path: Path) -> None:
    result = _tool("mypy", "--cache-dir", str(tmp_path / "mypy"), "promptops")
    assert result.returncode == 0, result.stdout + result.stderr
