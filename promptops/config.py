"""Find the project root and read its configuration from pyproject.toml or promptops.yaml."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any, cast

from promptops.errors import ConfigError, ProjectNotFound
from promptops.model import Budget, GatePolicy, Guardrail, ModelPrice, ProjectConfig, ResponsesConfig, TracingConfig

CONFIG_FILES = ("promptops.yaml", "pyproject.toml")


def find_root(start: Path) -> Path:
    """Return the nearest folder at or above `start` that holds a promptops configuration."""
    start = start.resolve()
    broken: list[str] = []
    for folder in (start, *start.parents):
        if (folder / "promptops.yaml").is_file():
            return folder
        pyproject = folder / "pyproject.toml"
        if not pyproject.is_file():
            continue
        try:
            tool = _toml_tool_table(pyproject)
        except ConfigError as exc:
            # Unreadable, so it may hold [tool.promptops]: say what is wrong rather than "no project found".
            if _mentions_promptops(pyproject):
                raise
            broken.append(str(exc))
            continue
        if "promptops" in tool:
            return folder
    unreadable = "".join(f"\n  ({problem})" for problem in broken)
    raise ProjectNotFound(
        f"no promptops project found in {start} or any parent folder: add [tool.promptops] to pyproject.toml "
        f"or a promptops.yaml, or run `promptops init`{unreadable}"
    )


def _mentions_promptops(path: Path) -> bool:
    try:
        return "promptops" in path.read_text("utf-8", errors="replace")
    except OSError:
        return False


def _toml_tool_table(pyproject: Path) -> dict[str, Any]:
    """Return the [tool] table of a pyproject.toml; raise ConfigError naming the TOML error's file:line:col."""
    try:
        data = tomllib.loads(pyproject.read_text("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{pyproject}: not UTF-8 text ({exc.reason}), so promptops cannot read it") from None
    except OSError as exc:
        raise ConfigError(f"{pyproject}: cannot read it: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        where = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        location = f"{pyproject}:{where.group(1)}:{where.group(2)}" if where else str(pyproject)
        reason = re.sub(r"\s*\(at line \d+, column \d+\)|\s*\(at end of document\)", "", str(exc))
        raise ConfigError(
            f"{location}: not valid TOML: {reason}; promptops reads its settings from [tool.promptops] there"
        ) from None
    tool = data.get("tool", {})
    return tool if isinstance(tool, dict) else {}


def _check_schema(raw: Mapping[str, Any]) -> list[str]:
    from promptops import schema

    return [problem.message for problem in schema.check("config", raw)]


def _schema_problems(root: Path, raw: Mapping[str, Any]) -> list[str]:
    """Return the schema's messages for `raw`, remembered for the last configuration seen in this checkout.

    Importing jsonschema costs about a tenth of a second, more than a small command's own work; an unchanged
    configuration under an unchanged promptops gives the same answer. The file is this machine's signed cache.
    """
    import json

    text = json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str)
    problems = _remembered(
        root, ("key", "problems"), text, lambda: _check_schema(raw),
        lambda value: isinstance(value, list) and all(isinstance(p, str) for p in value),
    )  # fmt: skip
    return cast(list[str], problems)


def _remembered(
    root: Path, fields: tuple[str, str], text: str, compute: Callable[[], Any], usable: Callable[[Any], bool]
) -> Any:
    """Return what `compute` makes of `text`, remembered for the last text seen in this checkout under promptops
    as it is now: the schema check, and promptops.yaml parsed, each in its (key, value) `fields` of one file,
    this machine's signed cache. A remembered value is taken when `usable`; a new one is kept only when JSON
    gives it back unchanged (a date or an integer key in promptops.yaml is parsed every time)."""
    import hashlib
    import json

    from promptops.cachefile import SignedJson
    from promptops.validation_cache import package_fingerprint

    key_field, value_field = fields
    key = hashlib.sha256(f"{package_fingerprint()}\0{text}".encode()).hexdigest()
    store = SignedJson(root / ".promptops" / "cache" / "config.json", "config-check")
    remembered = store.load()
    if remembered.get(key_field) == key and usable(remembered.get(value_field)):
        return remembered[value_field]
    value = compute()
    try:
        same = json.loads(json.dumps(value)) == value
    except (TypeError, ValueError):
        same = False
    if same:
        store.save({**remembered, key_field: key, value_field: value})
    return value


def load_config(root: Path, *, cache: bool = False) -> ProjectConfig:
    """Read and validate the project configuration of `root` (with `cache`, an unchanged one is neither parsed
    nor checked again)."""
    raw, source = _read_raw(root, cache)
    problems = _schema_problems(root, raw) if cache else _check_schema(raw)
    if problems:
        lines = "\n".join(f"  {source}: {message}" for message in problems)
        raise ConfigError(f"invalid promptops configuration:\n{lines}")
    _check_inside(raw, "prompts_dir", source, dot_folders=False)
    _check_inside(raw, "registry_path", source, dot_folders=True)
    gate = gate_policy(raw["gate"]) if "gate" in raw else None
    return ProjectConfig(
        prompts_dir=raw.get("prompts_dir", "prompts"),
        registry=raw.get("registry", "auto"),
        registry_path=raw.get("registry_path", ".promptops/registry.db"),
        default_model=raw.get("default_model", "mock-llm-v1"),
        constants=dict(raw.get("constants", {})),
        gate=gate,
        redact_patterns=_patterns(raw.get("redact", {}).get("patterns", ()), source),
        redact_env=tuple(raw.get("redact", {}).get("env", ())),
        custom_code=raw.get("check", {}).get("custom_code", "any"),
        require_experiment=raw.get("require_experiment", True),
        tracing=TracingConfig(**raw.get("tracing", {})),  # the schema allows exactly its fields
        source=source,
        responses=ResponsesConfig(**raw.get("responses", {})),
        prices={m: ModelPrice(float(p["input"]), float(p["output"])) for m, p in raw.get("prices", {}).items()},
        budget=budget(raw["budget"], source) if "budget" in raw else None,
    )


def budget(raw: Mapping[str, Any], source: str) -> Budget:
    """Build a budget from its (schema-checked) mapping; `source` names the file it came from."""
    return Budget(
        max_usd=float(raw["max_usd"]),
        source=source,
        assume_input_tokens=int(raw.get("assume_input_tokens", 1000)),
        assume_output_tokens=int(raw.get("assume_output_tokens", 500)),
    )


def _patterns(patterns: list[str], source: str) -> tuple[str, ...]:
    """Return the redact patterns, refusing one that does not compile (it would fail in the middle of a run)."""
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"{source}: redact.patterns: {pattern!r} is not a regular expression: {exc}") from None
    return tuple(patterns)


def _check_inside(raw: Mapping[str, Any], key: str, source: str, *, dot_folders: bool) -> None:
    """Refuse a configured path that leaves the project (`/`, `..`) or, for the prompts, enters a dot-folder.

    The configuration comes from the pull request too: `prompts_dir: /` would let an include read any file.
    """
    if key not in raw:
        return
    value = str(raw[key])
    parts = PurePosixPath(value.replace("\\", "/")).parts
    leaves = value.startswith(("/", "\\")) or (len(value) > 1 and value[1] == ":") or ".." in parts
    hidden = not dot_folders and any(part.startswith(".") for part in parts if part != ".")
    if leaves or hidden:
        raise ConfigError(
            f"{source}: {key} {value!r} must be a relative path inside the project"
            + ("" if dot_folders else ", not in a dot-folder")
            + " (a pull request can change the configuration, so promptops refuses paths that leave it)"
        )


def _read_raw(root: Path, cache: bool = False) -> tuple[dict[str, Any], str]:
    yaml_path = root / "promptops.yaml"
    if yaml_path.is_file():
        text = yaml_path.read_text("utf-8")
        return (_parsed_yaml_config(root, text) if cache else _yaml_config(text)), "promptops.yaml"
    return dict(_toml_tool_table(root / "pyproject.toml").get("promptops", {})), "pyproject.toml"


def _yaml_config(text: str) -> dict[str, Any]:
    from promptops import yamlfile

    doc = yamlfile.load(text)
    if doc.problems:
        p = doc.problems[0]
        raise ConfigError(f"promptops.yaml:{p.line}:{p.col}: {p.message}")
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError("promptops.yaml: the top level must be a mapping of settings")
    return data


def _parsed_yaml_config(root: Path, text: str) -> dict[str, Any]:
    """Return promptops.yaml's settings, remembered for the last text seen in this checkout: importing the YAML
    parser costs more than a warm command's own reading of its files."""
    settings = _remembered(root, ("yaml_key", "yaml"), text, lambda: _yaml_config(text), lambda v: isinstance(v, dict))
    return dict(settings)


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
        decide_on=raw.get("decide_on", base.decide_on if base else "mean"),
    )
