"""Choose and open a registry by name; only the chosen implementation is imported."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from promptops.errors import ConfigError
from promptops.model import ProjectConfig
from promptops.registry.base import Registry

# name -> "module:factory"; a factory takes (project root, project config, cache=bool) and returns a Registry.
REGISTRIES = {
    "local": "promptops.registry.local:open_local",
    "langfuse": "promptops.registry.langfuse:open_langfuse",
}


def resolve_name(requested: str | None, configured: str) -> str:
    """Return the registry to use: the requested or configured one; `auto` = Langfuse when both keys are set."""
    name = requested or configured or "auto"
    if name == "auto":
        has_keys = os.environ.get("LANGFUSE_PUBLIC_KEY") and os.environ.get("LANGFUSE_SECRET_KEY")
        return "langfuse" if has_keys else "local"
    if name not in REGISTRIES:
        raise ConfigError(f"unknown registry {name!r}; known registries: auto, {', '.join(sorted(REGISTRIES))}")
    return name


def open_registry(name: str, root: Path, config: ProjectConfig, *, cache: bool = True) -> Registry:
    """Open the named registry for the project at `root` (`cache=False`: read everything from the registry)."""
    module_name, _, factory = REGISTRIES[name].partition(":")
    module = importlib.import_module(module_name)
    registry: Registry = getattr(module, factory)(root, config, cache=cache)
    return registry
