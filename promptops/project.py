"""Discover and load a prompt repository: prompt files and datasets, with every problem found on the way."""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptops import files, parallel, printable, sensitive
from promptops.config import CONFIG_FILES, budget, gate_policy, load_config
from promptops.datasets import load_dataset
from promptops.model import (
    DATASETS_DIR,
    Diagnostic,
    EvaluatorSpec,
    ExperimentSpec,
    GatePolicy,
    MessageTemplate,
    Project,
    ProjectConfig,
    PromptAnswer,
    PromptSpec,
    ReadScope,
    Variable,
)

if TYPE_CHECKING:
    from promptops import yamlfile
    from promptops.validation_cache import ValidationCache

PARTIALS_DIR = "_partials"
PROMPT_SUFFIXES = (".yaml", ".yml")
DATASET_SUFFIXES = (".yaml", ".yml", ".jsonl")


def load_project(root: Path, config: ProjectConfig | None = None, cache: ValidationCache | None = None) -> Project:
    """Load every prompt and dataset under the project's prompts folder; problems become diagnostics.

    With `cache`, files unchanged since an earlier command are not parsed again (validation_cache.py).
    """
    config = config or load_config(root)
    prompts_root = root / config.prompts_dir
    scope = files.read_scope(prompts_root, root) if prompts_root.is_dir() else ReadScope(prompts_root.resolve())
    diagnostics: list[Diagnostic] = []
    prompts = []
    if scope.tracked is not None:
        cache = None  # with prompts_dir ".", what may be read depends on git's index, which the cache keys miss
    prefix = files.relative(prompts_root, root)
    found = [(rel, f"{prefix}/{rel}") for rel in _prompt_files(prompts_root, scope, diagnostics)]
    answered: dict[str, PromptAnswer] = {}  # validate's kept answers (ValidationCache.answer): not loaded at all
    for _, rel in found:
        answer = cache.answer(rel) if cache is not None else None
        if answer is not None:
            answered[rel] = answer
    todo = [i for i, (_, rel) in enumerate(found) if rel not in answered and not (cache and cache.has_prompt(rel))]
    # The files not cached: loaded by every core when there are many (parallel.py), in this order.
    loaded = parallel.ordered_map(lambda j: _load_at(prompts_root, found[todo[j]][0], root, config, scope), len(todo))
    results = dict(zip(todo, loaded, strict=True))
    scanned = set()
    for i, (_, rel) in enumerate(found):
        if rel in answered:
            spec, problems, read = None, list(answered[rel].load_problems), answered[rel].read
        elif cache is not None:
            spec, problems, read = cache.prompt(rel, partial(results.__getitem__, i))
        else:
            spec, problems, read = results[i]
        diagnostics.extend(problems)
        if read:
            scanned.add(rel)
        if spec is not None:
            prompts.append(spec)
    datasets = []
    for path in _dataset_files(prompts_root / DATASETS_DIR):
        if cache is not None:
            load_one = partial(load_dataset, path, root, scope)
            dataset, problems = cache.dataset(files.relative(path, root), load_one)
        else:
            dataset, problems = load_dataset(path, root, scope)
        diagnostics.extend(problems)
        if dataset is not None:
            datasets.append(dataset)
    return Project(
        root,
        config,
        tuple(prompts),
        tuple(datasets),
        tuple(diagnostics),
        scope=scope,
        scanned=frozenset(scanned),
        answered=answered,
    )


def _prompt_files(prompts_root: Path, scope: ReadScope, found: list[Diagnostic]) -> Iterator[str]:
    """Yield the path (POSIX, relative to the prompts folder) of every prompt file (anything with a prompt suffix
    that is not a folder: a FIFO is reported, not skipped).

    With the project root as the prompts folder, files git does not track are not read, and a warning says so.
    """
    if not prompts_root.is_dir():
        return
    at_root = scope.tracked is not None
    for rel in _prompt_candidates(prompts_root):
        if at_root and "/" not in rel and rel in CONFIG_FILES:
            continue  # promptops.yaml is the configuration, not a prompt
        if at_root and rel not in (scope.tracked or ()):
            message = "not read: with prompts_dir '.', promptops reads only files git tracks (`git add` it)"
            found.append(Diagnostic(printable.escaped(rel), None, None, "untracked-file", "warning", message))
            continue
        yield rel


def _load_at(
    prompts_root: Path, rel: str, root: Path, config: ProjectConfig, scope: ReadScope
) -> tuple[PromptSpec | None, list[Diagnostic], bool]:
    """Load a prompt file and, when it could be read, report its secrets with its problems (one read of it)."""
    path = prompts_root / rel
    read = files.read_text(path, root, scope=scope)
    spec, problems = _parsed(read, path, root, config, scope)
    if read.text is None:
        return spec, problems, False
    return spec, [*problems, *sensitive.secret_diagnostics(read.path, read.text)], True


def _prompt_candidates(prompts_root: Path) -> list[str]:
    """Return the paths (relative, POSIX) of everything under the prompts folder with a prompt suffix that is not
    a folder (a link to one is, like a FIFO, reported when read), outside datasets/, _partials/ and dot-paths,
    in path order."""
    found = []
    top_length = len(str(prompts_root)) + 1
    for folder, dirs, names in os.walk(prompts_root):
        below = folder[top_length:].replace(os.sep, "/")
        dirs[:] = [d for d in dirs if not d.startswith(".") and (below or d not in (DATASETS_DIR, PARTIALS_DIR))]
        links = [d for d in dirs if d.endswith(PROMPT_SUFFIXES) and os.path.islink(os.path.join(folder, d))]
        for name in (*names, *links):
            if not name.startswith(".") and name.endswith(PROMPT_SUFFIXES) and name not in PROMPT_SUFFIXES:
                found.append(f"{below}/{name}" if below else name)
    return sorted(found, key=lambda rel: rel.split("/"))


def _dataset_files(folder: Path) -> Iterator[Path]:
    if folder.is_dir():
        yield from sorted(
            p
            for p in folder.iterdir()
            if p.suffix in DATASET_SUFFIXES and not p.name.startswith(".") and not (p.is_dir() and not p.is_symlink())
        )


def prompt_name_for(path: Path, prompts_root: Path) -> str:
    """Return the default prompt name of a file: its path under prompts/ without the extension."""
    return path.relative_to(prompts_root).with_suffix("").as_posix()


def load_prompt(
    path: Path, root: Path, config: ProjectConfig, scope: ReadScope | None = None
) -> tuple[PromptSpec | None, list[Diagnostic]]:
    """Parse one prompt file; return the spec (None when it has errors) and its diagnostics."""
    scope = scope or files.read_scope(root / config.prompts_dir, root)
    return _parsed(files.read_text(path, root, scope=scope), path, root, config, scope)


def _parsed(
    read: files.TextFile, path: Path, root: Path, config: ProjectConfig, scope: ReadScope
) -> tuple[PromptSpec | None, list[Diagnostic]]:
    if read.problem is not None or read.text is None:
        return None, [read.problem] if read.problem else []
    from promptops import schema, yamlfile  # only when a file is parsed: not in a run the cache answers

    rel = read.path
    doc = yamlfile.load(read.text)
    diags = [Diagnostic(rel, p.line, p.col, p.code, "error", p.message) for p in doc.problems]
    if doc.data is None and not diags:
        diags.append(
            Diagnostic(rel, 1, 1, "empty-file", "error", "file has no YAML content: add `prompt:` or `messages:`")
        )
    if diags:
        return None, diags
    if not isinstance(doc.data, dict):
        return None, [
            Diagnostic(rel, 1, 1, "schema", "error", "the top level must be a mapping with `prompt:` or `messages:`")
        ]
    for problem in schema.check("prompt", doc.data):
        line, col = _locate(doc.positions, problem.path)
        diags.append(Diagnostic(rel, line, col, "schema", "error", problem.message))
    if diags:
        return None, diags
    return _build_spec(doc, path, root, rel, config, scope)


def _locate(positions: dict[str, tuple[int, int]], dotted: str) -> tuple[int, int]:
    # Walk up the key path until a known position: an unknown key's own path may not exist yet.
    parts = dotted.split(".") if dotted else []
    while parts:
        key = ".".join(parts)
        if key in positions:
            return positions[key]
        parts.pop()
    return positions.get("", (1, 1))


def _build_spec(
    doc: yamlfile.YamlDocument, path: Path, root: Path, rel: str, config: ProjectConfig, scope: ReadScope
) -> tuple[PromptSpec | None, list[Diagnostic]]:
    data: dict[str, Any] = doc.data
    positions = doc.positions
    prompts_root = root / config.prompts_dir
    name = data.get("name") or prompt_name_for(path, prompts_root)
    ptype = data.get("type", "messages" in data and "chat" or "text")
    template: str | None = None
    template_path, template_line = rel, 1
    messages: tuple[MessageTemplate, ...] = ()
    if ptype == "chat":
        if "messages" not in data:
            return None, [_at(rel, positions, "type", "missing-template", "a chat prompt needs `messages:`")]
        messages = tuple(_message(m, i, positions) for i, m in enumerate(data["messages"]))
    elif "messages" in data:
        return None, [
            _at(rel, positions, "messages", "schema", "`messages` needs `type: chat`; text prompts use `prompt`")
        ]
    elif "prompt" in data:
        template = data["prompt"]
        template_line = positions.get("prompt#value", (1, 1))[0]
    else:
        sibling = path.with_suffix(".jinja")
        if not (sibling.exists() or sibling.is_symlink()):  # a dangling link is reported by read_text
            return None, [
                Diagnostic(
                    rel, 1, 1, "missing-template", "error", f"no template: add `prompt:` or a sibling {sibling.name}"
                )
            ]
        read = files.read_text(sibling, root, scope=scope)
        if read.problem is not None:
            return None, [read.problem]
        template, template_path = read.text, read.path
    experiment, skip_reason = _experiment(data.get("experiment"), config)
    gate = _gate(data.get("gate"), config, experiment)
    spec = PromptSpec(
        name=name,
        path=rel,
        type=ptype,
        template=template,
        messages=messages,
        template_path=template_path,
        template_line=template_line,
        variables=tuple(_variable(k, v or {}) for k, v in data.get("variables", {}).items()),
        constants={**config.constants, **data.get("constants", {})},
        config=dict(data.get("config", {})),
        tags=tuple(data.get("tags", ())),
        labels=tuple(data.get("labels", ())),
        experiment=experiment,
        no_experiment_reason=skip_reason,
        gate=gate,
        description=data.get("description", ""),
        positions=positions,
        budget=budget(data["budget"], rel) if "budget" in data else None,
    )
    return spec, []


def _at(rel: str, positions: dict[str, tuple[int, int]], key: str, code: str, message: str) -> Diagnostic:
    line, col = positions.get(key, (1, 1))
    return Diagnostic(rel, line, col, code, "error", message)


def _message(raw: dict[str, str], index: int, positions: dict[str, tuple[int, int]]) -> MessageTemplate:
    if "placeholder" in raw:
        return MessageTemplate(None, None, raw["placeholder"], positions.get(f"messages.{index}", (1, 1))[0])
    line = positions.get(f"messages.{index}.content#value", (1, 1))[0]
    return MessageTemplate(raw["role"], raw["content"], None, line)


def _variable(name: str, raw: dict[str, Any]) -> Variable:
    enum = tuple(raw["enum"]) if "enum" in raw else None
    return Variable(name, raw.get("type", "string"), raw.get("description", ""), enum, raw.get("required", True))


def _experiment(raw: dict[str, Any] | None, config: ProjectConfig) -> tuple[ExperimentSpec | None, str | None]:
    if raw is None:
        return None, None
    if "skip" in raw:
        return None, raw["skip"]
    evaluators = tuple(
        EvaluatorSpec(
            name=e.get("name", e["type"]),
            kind=e["type"],
            options={k: v for k, v in e.items() if k not in ("type", "name")},
        )
        for e in raw.get("evaluators", ())
    )
    known = {k: raw[k] for k in ExperimentSpec.__dataclass_fields__ if k in raw and k != "evaluators"}
    known.setdefault("model", config.default_model)
    return ExperimentSpec(evaluators=evaluators, **known), None


def _gate(raw: dict[str, Any] | None, config: ProjectConfig, experiment: ExperimentSpec | None) -> GatePolicy | None:
    if raw is None and config.gate is None and experiment is None:
        return None
    policy = gate_policy(raw or {}, config.gate)
    if not policy.primary and experiment and experiment.evaluators:
        policy = gate_policy({"primary": experiment.evaluators[0].name}, policy)
    return policy
