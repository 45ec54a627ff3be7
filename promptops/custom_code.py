"""The PR gate's switch for custom code: run only `module:function` code the base branch already has.

check runs the experiments of the prompts a pull request changes, and an experiment may name custom code (a
task, an evaluator, a retriever): importable Python, which in a pull request from the same repository is the
PR's own code running next to CI's secrets. validate imports nothing; check, experiment and sync import and run.
With `check: {custom_code: base-only}` in the base branch's configuration (or `check --custom-code base-only`),
check refuses to run custom code unless (1) every `module:function` the prompt names is already named by a
prompt at the base, and (2) the branch changes no file Python could load (.py, .pyc, .pth, extension modules)
anywhere in the repository, since a module can import any of them. A refused prompt fails the gate, with why.
The switch is read from the base branch because the pull request can change its own configuration.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from promptops import gitinfo
from promptops.errors import PromptopsError
from promptops.model import ExperimentSpec, ProjectConfig, PromptSpec

BASE_ONLY = "base-only"
PYTHON_SUFFIXES = (".py", ".pyc", ".pyo", ".pyd", ".pyw", ".so", ".pth")


def references(experiment: ExperimentSpec | None) -> set[str]:
    """Return the custom `module:function` names an experiment would import and run."""
    if experiment is None:
        return set()
    named = {experiment.task, experiment.retriever or "", *(e.kind for e in experiment.evaluators)}
    return {name for name in named if ":" in name}


@dataclass(frozen=True)
class CustomCodeGuard:
    """What the base branch has: the custom code it names, and the Python files the branch changes."""

    at_base: frozenset[str]
    changed_python: tuple[str, ...]

    def refusal(self, spec: PromptSpec) -> str | None:
        """Return why the prompt's custom code may not run, or None."""
        named = references(spec.experiment)
        if not named:
            return None
        new = sorted(named - self.at_base)
        if new:
            return (
                f"custom code refused (check.custom_code: base-only): {', '.join(new)} is not used by any prompt "
                "on the base branch; it runs once the change is merged"
            )
        if self.changed_python:
            shown = ", ".join(self.changed_python[:5]) + (" …" if len(self.changed_python) > 5 else "")
            return (
                f"custom code refused (check.custom_code: base-only): this branch changes Python files ({shown}), "
                f"which {', '.join(sorted(named))} could import; it runs once the change is merged"
            )
        return None


def guard_for(root: Path, base_commit: str, head: ProjectConfig, option: str | None) -> CustomCodeGuard | None:
    """Return the guard when base-only applies (the option, the base's config or this branch's), else None."""
    if BASE_ONLY not in (option, head.custom_code, _base_setting(root, base_commit)):
        return None
    at_base = frozenset(ref for spec in _base_prompts(root, base_commit) for ref in references(spec.experiment))
    changed = tuple(path for path in gitinfo.changed_files(root, base_commit) if path.endswith(PYTHON_SUFFIXES))
    return CustomCodeGuard(at_base, changed)


def _base_setting(root: Path, base_commit: str) -> str | None:
    """Return check.custom_code as the base branch's configuration sets it (None without a valid one)."""
    from promptops.config import CONFIG_FILES, load_config

    with tempfile.TemporaryDirectory(prefix="promptops-base-config-") as tmp:
        for name in CONFIG_FILES:
            text = gitinfo.file_at(root, base_commit, root / name)
            if text is not None:
                (Path(tmp) / name).write_text(text, "utf-8")
        try:
            return load_config(Path(tmp)).custom_code
        except PromptopsError:
            return None


def _base_prompts(root: Path, base_commit: str) -> tuple[PromptSpec, ...]:
    from promptops.config import load_config
    from promptops.project import load_project

    with tempfile.TemporaryDirectory(prefix="promptops-base-") as tmp:
        gitinfo.export_tree(root, base_commit, Path(tmp))
        try:
            return load_project(Path(tmp), load_config(Path(tmp))).prompts
        except PromptopsError:
            return ()  # no valid configuration at the base: nothing there allows custom code either
