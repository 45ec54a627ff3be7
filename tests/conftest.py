"""Shared fixtures: a hermetic environment, real git repositories, and the Langfuse test double.

Tests must not depend on this machine: its HOME, its git identity and config, its caches. The whole session
therefore runs with an empty HOME and with git's global and system config switched off, before any test or
subprocess starts, so a test that commits without setting an identity fails here as it would on a new machine.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["tests.langfuse_double.fixtures", "tests.openai_double.fixtures"]

_HERMETIC_HOME = tempfile.mkdtemp(prefix="promptops-test-home-")


def pytest_configure(config: pytest.Config) -> None:
    """Point HOME at an empty folder and turn off the user's and the system's git config for the session."""
    os.environ["HOME"] = _HERMETIC_HOME
    os.environ["GIT_CONFIG_GLOBAL"] = os.devnull
    os.environ["GIT_CONFIG_SYSTEM"] = os.devnull
    os.environ["GIT_CONFIG_NOSYSTEM"] = "1"
    os.environ["PROMPTOPS_HOME"] = os.path.join(_HERMETIC_HOME, "promptops")  # crash logs stay in the sandbox
    os.environ.pop("GITHUB_ACTIONS", None)  # in GitHub's CI, promptops would stop workflow commands in its output
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        os.environ.pop(name, None)


@pytest.fixture(params=["local", "langfuse"])
def target(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Yield (registry, repository): an empty registry of each kind and a fresh repository of the examples."""
    from tests.test_sync_kill import target_for

    with target_for(str(request.param), tmp_path / "repo", monkeypatch) as found:
        yield found
