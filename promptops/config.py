"""Find the project root and read its configuration from pyproject.toml or promptops.yaml."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from promptops.errors import ConfigError, ProjectNotFound
from promptops.model import GatePolicy, Guardrail, ProjectConfig, TracingConfig

CONFIG_FILES = ("promptops.yaml", "pyproject.toml")


def find_root(start: Path) -> Path:
    """Return the nearest folder at or above `start` that holds a promptops configuration."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / "promptops.yaml").is_file() or _has_tool_table(folder / "pyproject.toml"):
            return folder
    raise ProjectNotFound(
        f"no promptops project found in {start} or any parent folder: add [tool.promptops] to pyproject.toml "
        "or a promptops.yaml, or run `promptops init`"
    )


def _has_tool_table(pyproject: Path) -> bool:
    if not pyproject.is_file():
        return False
    try:
        return "promptops" in tomllib.loads(pyproject.read_text("utf-8")).get("tool", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False


def load_config(root: Path) -> ProjectConfig:
    """Read and validate the project configuration of `root`."""
    raw, source = _read_raw(root)
    from promptops import schema

    problems = schema.check("config", raw)
    if problems:
        lines = "\n".join(f"  {source}: {p.message}" for p in problems)
        raise ConfigError(f"invalid promptops configuration:\n{lines}")
    gate = gate_policy(raw["gate"]) if "gate" in raw else None
    return ProjectConfig(
        prompts_dir=raw.get("prompts_dir", "prompts"),
        registry=raw.get("registry", "auto"),
        registry_path=raw.get("registry_path", ".promptops/registry.db"),
        default_model=raw.get("default_model", "mock-llm-v1"),
        constants=dict(raw.get("constants", {})),
        gate=gate,
        redact_patterns=tuple(raw.get("redact", {}).get("patterns", ())),
        require_experiment=raw.get("require_experiment", True),
        tracing=TracingConfig(**raw.get("tracing", {})),  # the schema allows exactly its fields
        source=source,
    )


def _read_raw(root: Path) -> tuple[dict[str, Any], str]:
    yaml_path = root / "promptops.yaml"
    if yaml_path.is_file():
        from promptops import yamlfile

        doc = yamlfile.load(yaml_path.read_text("utf-8"))
        if doc.problems:
            p = doc.problems[0]
            raise ConfigError(f"promptops.yaml:{p.line}:{p.col}: {p.message}")
        data = doc.data if doc.data is not None else {}
        if not isinstance(data, dict):
            raise ConfigError("promptops.yaml: the top level must be a mapping of settings")
        return data, "promptops.yaml"
    try:
        tool = tomllib.loads((root / "pyproject.toml").read_text("utf-8")).get("tool", {})
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"pyproject.toml: cannot read [tool.promptops]: {exc}") from exc
    return dict(tool.get("promptops", {})), "pyproject.toml"


def gate_policy(raw: Mapping[str, Any], base: GatePolicy | None = None) -> GatePolicy:
    """Build a gate policy from its (schema-checked) mapping, over project defaults."""
    floors = dict(base.floors) if base else {}
    floors.update(raw.get("floors", {}))
    guardrails = tuple(
        Guardrail(metric=g["metric"], max_regression=float(g.get("max_regression", 0.0)))
        for g in raw.get("guardrails", ())
    )
    primary = raw.get("primary") or (base.primary if base else "")
    return GatePolicy(
        primary=primary,
        policy=raw.get("policy", base.policy if base else "improve"),
        min_delta=float(raw.get("min_delta", base.min_delta if base else 0.0)),
        guardrails=guardrails or (base.guardrails if base else ()),
        floors=floors,
        significance=raw.get("significance", base.significance if base else "none"),
        alpha=float(raw.get("alpha", base.alpha if base else 0.05)),
    )
