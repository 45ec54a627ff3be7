"""Where the project is and how its registry is opened: what every api verb starts from."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from promptops.model import Project, ProjectConfig

if TYPE_CHECKING:
    from promptops.registry.base import Registry
    from promptops.validation_cache import ValidationCache


@dataclass(frozen=True)
class Settings:
    """Where the project is and how to reach its registry, resolved once by the CLI."""

    root: Path
    config: ProjectConfig
    registry: str | None = None  # overrides config.registry
    cache: bool = True  # --no-cache: read everything afresh (the registry's state, the files' results)

    @property
    def prompts_root(self) -> Path:
        """Return the absolute prompts folder."""
        return self.root / self.config.prompts_dir


def load_settings(start: Path, *, registry: str | None = None, cache: bool = True) -> Settings:
    """Find the project at or above `start` and read its configuration."""
    from promptops import sensitive
    from promptops.config import find_root, load_config

    root = find_root(start)
    config = load_config(root, cache=cache)
    _importable(root)
    sensitive.configure(env_names=config.redact_env, patterns=config.redact_patterns)  # for every output
    return Settings(root=root, config=config, registry=registry, cache=cache)


def _importable(root: Path) -> None:
    """Let user code (`module:function` evaluators, tasks, retrievers) be imported from the project root.

    Appended, not prepended: an installed package keeps its name even if the repository has a same-named file.
    """
    entry = str(root)
    if entry not in sys.path:
        sys.path.append(entry)


def load(settings: Settings, cache: ValidationCache | None = None) -> Project:
    """Load the project's prompts and datasets (problems are kept as diagnostics)."""
    from promptops.project import load_project

    return load_project(settings.root, settings.config, cache)


@contextmanager
def opened_registry(settings: Settings, registry: Registry | None = None) -> Iterator[Registry]:
    """Yield the given registry, or open the settings' one and close it afterwards."""
    if registry is not None:
        yield registry
        return
    opened = registry_for(settings)
    try:
        yield opened
    finally:
        opened.close()


def registry_for(settings: Settings) -> Registry:
    """Open the registry chosen by --registry, the config, or auto-detection."""
    from promptops.registry import open_registry, resolve_name

    name = resolve_name(settings.registry, settings.config.registry)
    return open_registry(name, settings.root, settings.config, cache=settings.cache)
