"""Validate a loaded project: every problem across every file, sorted, each saying what to do. Writes nothing."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from promptops import files, parallel, portability, printable, render, sensitive
from promptops.model import DatasetItem, DatasetSpec, Diagnostic, Project, PromptSpec, RenderedPrompt

if TYPE_CHECKING:
    from promptops.validation_cache import ValidationCache

# Langfuse's own rules (REFERENCE §2.2, §2.3).
LABEL_RE = re.compile(r"^[a-z0-9_\-.]+$")
LABEL_MAX = 36
RESERVED_NAMES = ("new", "metrics", "prompt-detail")
MANAGED_LABELS = ("latest", "production")
RELEASE_LABEL = re.compile(r"^release-\d+$")
BUILTIN_METRICS = ("latency_p50", "latency_p95", "error_rate")
MOCK_MODEL = "mock-llm-v1"
MAX_PLANNED_RUNS = 100_000  # items × repeats of one experiment run
MAX_EXPERIMENT_BYTES = 256 * 2**20  # dataset file size × repeats: what one run reads, traces and records


def validate_project(project: Project, cache: ValidationCache | None = None) -> list[Diagnostic]:
    """Return every diagnostic for the project, sorted by file, line and column."""
    return validate_and_render(project, cache=cache)[0]


def validate_and_render(
    project: Project, only: str | None = None, cache: ValidationCache | None = None
) -> tuple[list[Diagnostic], dict[str, RenderedPrompt]]:
    """Return every diagnostic, sorted, and the rendered prompts (by name) of the prompts that rendered cleanly.

    With `only`, check just that prompt and the files it uses (its YAML and template, its dataset, the
    partials), so a broken unrelated prompt does not block rendering or running this one. An `only` that
    names no loaded prompt checks everything: its own file may be the one that failed to load. With `cache`, a
    prompt whose files (and partials) are unchanged is not checked and rendered again.
    """
    specs = [p for p in project.prompts if p.name == only] if only is not None else list(project.prompts)
    if not specs:
        specs, only = list(project.prompts), None
    scope = None if only is None else _files_of(project, specs)
    diags = [d for d in project.diagnostics if scope is None or d.path in scope]
    rendered: dict[str, RenderedPrompt] = {}
    diags.extend(d for d in _duplicate_names(project.prompts) if only is None or d.path in (scope or ()))
    datasets = {d.name: d for d in project.datasets}
    partials: render.Partials = {}  # each partial is read and analysed once in this pass
    sizes: dict[str, int] = {}  # of dataset files, asked once
    todo = [i for i, spec in enumerate(specs) if cache is None or not cache.has_check(spec)]
    # The prompts not cached: checked by every core when there are many (parallel.py), in this order.
    checked = parallel.ordered_map(lambda j: _check_prompt(specs[todo[j]], project, partials), len(todo))
    checks = dict(zip(todo, checked, strict=True))
    for i, spec in enumerate(specs):
        if cache is not None:
            included = checks[i][2] if i in checks else ()
            problems, result = cache.check(spec, partial(_without_includes, checks, i), included)
        else:
            problems, result, _ = checks[i]
        diags.extend(problems)
        if result is not None:
            rendered[spec.name] = result
        diags.extend(_experiment_problems(spec, project, datasets, sizes))
    diags.extend(_dataset_coverage(project, specs))
    diags.extend(_secrets(project, scope, cache))
    return sorted({_printable(d) for d in diags}, key=_sort_key), rendered


def _check_prompt(
    spec: PromptSpec, project: Project, partials: render.Partials
) -> tuple[list[Diagnostic], RenderedPrompt | None, set[str]]:
    """Return what depends on a prompt's own files (and the partials it includes) only: its name, labels and
    templates, and whether what it renders compiles alike in every SDK; the rendering, when all is well; and
    the include names its checks looked up (what the answer depends on)."""
    diags, included = [*name_problems(spec), *label_problems(spec)], set[str]()
    problems, result = render.check_prompt(
        spec, project.prompts_root, project.root, scope=project.scope, partials=partials, included=included
    )
    diags.extend(problems)
    unportable = portability_problems(spec, result) if result is not None else []
    return [*diags, *unportable], (None if unportable else result), included


def _without_includes(
    checks: Mapping[int, tuple[list[Diagnostic], RenderedPrompt | None, set[str]]], i: int
) -> tuple[list[Diagnostic], RenderedPrompt | None]:
    problems, result, _ = checks[i]
    return problems, result


def _files_of(project: Project, specs: Iterable[PromptSpec]) -> set[str]:
    """Return the project-relative files these prompts are made of: YAML, template, dataset, partials."""
    found: set[str] = set()
    prompts_dir = files.relative(project.prompts_root, project.root)
    for spec in specs:
        found |= {spec.path, spec.template_path}
        if spec.experiment is not None:
            found |= {f"{prompts_dir}/datasets/{spec.experiment.dataset}{s}" for s in (".yaml", ".yml", ".jsonl")}
    partials = project.prompts_root / "_partials"
    if partials.is_dir():
        found |= {files.relative(p, project.root) for p in partials.rglob("*") if p.is_file()}
    return found


def portability_problems(spec: PromptSpec, rendered: RenderedPrompt) -> list[Diagnostic]:
    """Return where the stored text would compile differently in the JS/TS SDK than in the Python one."""
    if isinstance(rendered.prompt, str):
        texts = [(rendered.prompt, spec.position("prompt"))]
    else:
        texts = [
            (message.get("content", ""), (template.line, None) if template.line else spec.position("messages"))
            for message, template in zip(rendered.prompt, spec.messages, strict=True)
        ]
    runtime = set(spec.runtime_names())
    for text, (line, col) in texts:
        found = portability.js_difference(text, runtime)
        if found is not None:
            return [Diagnostic(spec.path, line, col, "sdk-incompatible", "error", found.message)]
    return []


def _printable(d: Diagnostic) -> Diagnostic:
    """Keep every diagnostic on one line and free of credentials: messages quote values from the files."""
    message = sensitive.redact_secrets(" ".join(d.message.split()))
    return d if message == d.message else replace(d, message=message)


def _sort_key(d: Diagnostic) -> tuple[str, int, int, str]:
    return (d.path, d.line or 0, d.col or 0, d.code)


def name_problems(spec: PromptSpec) -> list[Diagnostic]:
    """Check a prompt name against Langfuse's naming rules."""
    line, col = spec.position("name") if "name" in spec.positions else (1, 1)
    name = spec.name

    def problem(message: str) -> list[Diagnostic]:
        return [Diagnostic(spec.path, line, col, "invalid-name", "error", f"prompt name {name!r}: {message}")]

    if not name.strip():
        return problem("must not be empty")
    bad = printable.unsafe_char(name)
    if bad is not None:  # a newline would start a new line in a CI log: `::error ...` is a workflow command there
        return problem(f"must not contain {printable.describe(bad)}: Langfuse and terminals cannot show it as it is")
    if re.search(r"<[^<>]*>", name):
        return problem("must not contain HTML tags")
    if "|" in name:
        return problem("must not contain '|' (Langfuse uses it for prompt composition)")
    if name.startswith("/") or name.endswith("/") or "//" in name:
        return problem("must not start or end with '/' or contain '//'")
    if name != name.strip():
        return problem("must not start or end with spaces (Langfuse trims them)")
    if name in RESERVED_NAMES:
        return problem(f"is reserved by Langfuse ({', '.join(RESERVED_NAMES)})")
    return []


def label_problems(spec: PromptSpec) -> list[Diagnostic]:
    """Check the extra labels of a prompt against Langfuse's label rules and the labels promptops manages; tags too."""
    diags = []
    for i, tag in enumerate(spec.tags):
        bad = printable.unsafe_char(tag)
        if bad is not None:
            line, col = spec.position(f"tags.{i}")
            problem = f"tag {printable.escaped(tag)!r} must not contain {printable.describe(bad)}"
            diags.append(Diagnostic(spec.path, line, col, "invalid-tag", "error", problem))
    for i, label in enumerate(spec.labels):
        line, col = spec.position(f"labels.{i}")
        message = None
        if label in MANAGED_LABELS or RELEASE_LABEL.match(label):
            message = (
                f"label {label!r} is managed by promptops (latest by Langfuse, production and release-N by the gate)"
            )
        elif len(label) > LABEL_MAX:
            message = f"label {label!r} is longer than {LABEL_MAX} characters"
        elif not LABEL_RE.match(label):
            message = f"label {label!r} must be lowercase letters, digits, '_', '-' or '.'"
        if message:
            diags.append(Diagnostic(spec.path, line, col, "invalid-label", "error", message))
    return diags


def _duplicate_names(prompts: Iterable[PromptSpec]) -> Iterator[Diagnostic]:
    first: dict[str, PromptSpec] = {}
    for spec in prompts:
        if spec.name in first:
            line, col = spec.position("name") if "name" in spec.positions else (1, 1)
            yield Diagnostic(
                spec.path,
                line,
                col,
                "duplicate-name",
                "error",
                f"prompt name {spec.name!r} is already used by {first[spec.name].path}: rename one of them",
            )
        else:
            first[spec.name] = spec


def _experiment_problems(
    spec: PromptSpec, project: Project, datasets: Mapping[str, object], sizes: dict[str, int]
) -> list[Diagnostic]:
    if spec.experiment is None:
        if spec.no_experiment_reason is None and project.config.require_experiment:
            return [
                Diagnostic(
                    spec.path,
                    1,
                    1,
                    "missing-experiment",
                    "error",
                    "prompt has no experiment, so the gate cannot judge it: add `experiment:` with a dataset, "
                    "or `experiment: {skip: <why>}`",
                )
            ]
        return []
    diags = []
    exp = spec.experiment

    def broken() -> bool:  # a dataset file that failed to load reports its own errors
        folder = project.prompts_root / "datasets"
        return any((folder / f"{exp.dataset}{suffix}").exists() for suffix in (".yaml", ".yml", ".jsonl"))

    if exp.dataset not in datasets and not broken():
        line, col = spec.position("experiment.dataset")
        known = ", ".join(sorted(datasets)) or "none"
        diags.append(
            Diagnostic(
                spec.path,
                line,
                col,
                "unknown-dataset",
                "error",
                f"dataset {exp.dataset!r} does not exist in prompts/datasets/ (known: {known})",
            )
        )
    diags.extend(_experiment_size(spec, project.root, datasets.get(exp.dataset), sizes))
    from promptops.evaluators import check_spec

    for i, ev in enumerate(exp.evaluators):
        bad = printable.unsafe_char(ev.name)
        if bad is not None:
            problems = [f"the name must not contain {printable.describe(bad)}"]
            name = printable.escaped(ev.name)
        else:
            problems, name = check_spec(ev), ev.name
            if not problems and ":" in ev.kind:
                problems = module_problems(ev.kind, project.root)
        if problems:  # (positions are looked up only for a problem: most prompts have none)
            line, col = spec.position(f"experiment.evaluators.{i}")
            diags.extend(
                Diagnostic(spec.path, line, col, "evaluator", "error", f"evaluator {name!r}: {problem}")
                for problem in problems
            )
    for key, target in (("experiment.task", exp.task), ("experiment.retriever", exp.retriever or "")):
        if ":" in target:
            line, col = spec.position(key) if key in spec.positions else spec.position("experiment")
            diags.extend(
                Diagnostic(spec.path, line, col, "missing-module", "error", f"{key.split('.')[1]} {problem}")
                for problem in module_problems(target, project.root)
            )
    metrics = {ev.name for ev in exp.evaluators} | set(BUILTIN_METRICS)
    if spec.gate is not None:
        wanted = [("gate.primary", spec.gate.primary)]
        wanted += [(f"gate.guardrails.{i}", g.metric) for i, g in enumerate(spec.gate.guardrails)]
        wanted += [(f"gate.floors.{m}", m) for m in spec.gate.floors]
        for key, metric in wanted:
            if metric.startswith("latency_") and exp.model == MOCK_MODEL:
                line, col = spec.position(key) if key in spec.positions else spec.position("gate")
                message = (
                    f"gate metric {metric!r} with {MOCK_MODEL}: the mock's latency is simulated (model_options "
                    "latency_ms and latency_jitter_ms, 0 by default), so this gates nothing real; it gates real "
                    "latency once the experiment uses a real model"
                )
                diags.append(Diagnostic(spec.path, line, col, "simulated-latency", "warning", message))
            if metric and metric not in metrics:
                line, col = spec.position(key) if key in spec.positions else spec.position("gate")
                diags.append(
                    Diagnostic(
                        spec.path,
                        line,
                        col,
                        "unknown-metric",
                        "error",
                        f"gate metric {metric!r} is not produced by the experiment (metrics: "
                        f"{', '.join(sorted(metrics))})",
                    )
                )
    return diags


def module_problems(target: str, root: Path) -> list[str]:
    """Return why `module:function`'s module cannot be found, looking for its file without importing anything.

    Validation runs on pull requests next to CI's secrets, so user code is never imported here; the module is
    looked up where promptops imports it from: the project root, then the installed packages.
    """
    from importlib.machinery import PathFinder

    module = target.partition(":")[0]
    search: list[str] | None = [str(root), *sys.path]
    found = None
    for part in module.split("."):
        found = PathFinder.find_spec(part, search) if search is not None else None
        if found is None:
            break
        search = list(found.submodule_search_locations or []) or None
    if found is not None:
        return []
    as_file = root / (module.replace(".", "/") + ".py")
    return [
        f"module {module!r} not found: promptops imports it from the project root (e.g. "
        f"{files.relative(as_file, root)}) or the installed packages"
    ]


def _experiment_size(spec: PromptSpec, root: Path, dataset: object, sizes: dict[str, int]) -> list[Diagnostic]:
    """An experiment runs every item `repeats` times, twice (baseline and candidate): bound what that writes.
    `sizes` holds the dataset files' sizes already asked in this pass (many prompts share a dataset)."""
    exp = spec.experiment
    if not isinstance(dataset, DatasetSpec) or exp is None:
        return []
    planned = len(dataset.items) * exp.repeats
    if dataset.path not in sizes:
        try:
            sizes[dataset.path] = (root / dataset.path).stat().st_size
        except OSError:
            sizes[dataset.path] = 0
    data_bytes = sizes[dataset.path] * exp.repeats
    if planned <= MAX_PLANNED_RUNS and data_bytes <= MAX_EXPERIMENT_BYTES:
        return []
    key = "experiment.repeats" if "experiment.repeats" in spec.positions else "experiment.dataset"
    line, col = spec.position(key)
    message = (
        f"the experiment plans {planned:,} item runs ({len(dataset.items):,} items × {exp.repeats} repeats) over "
        f"{data_bytes / 2**20:,.0f} MiB of dataset; the limits are {MAX_PLANNED_RUNS:,} runs and "
        f"{MAX_EXPERIMENT_BYTES // 2**20} MiB: use fewer repeats or a smaller dataset"
    )
    return [Diagnostic(spec.path, line, col, "experiment-too-large", "error", message)]


def _dataset_coverage(project: Project, specs: Iterable[PromptSpec]) -> Iterator[Diagnostic]:
    """Every item of a dataset must give every required runtime variable of the prompts that use it."""
    lacking: dict[tuple[str, tuple[str, ...]], list[tuple[DatasetItem, list[str]]]] = {}  # many prompts share both
    for spec in specs:
        if spec.experiment is None or spec.experiment.task not in ("generate", "rag"):
            continue  # a custom task builds its own variables
        dataset = project.dataset(spec.experiment.dataset)
        if dataset is None:
            continue
        supplied_by_task = {"context"} if spec.experiment.task == "rag" else set()
        required = tuple(v.name for v in spec.variables if v.required and v.name not in supplied_by_task)
        if (dataset.name, required) not in lacking:
            found = [(item, [name for name in required if name not in item.input]) for item in dataset.items]
            lacking[dataset.name, required] = [(item, missing) for item, missing in found if missing]
        for item, missing in lacking[dataset.name, required]:
            yield Diagnostic(
                dataset.path,
                item.line,
                None,
                "dataset-missing-variable",
                "error",
                f"item {item.id!r} has no input {', '.join(map(repr, missing))}, which prompt {spec.name!r} "
                "requires: add it to the item's `input`",
            )


def _secrets(
    project: Project, scope: set[str] | None = None, cache: ValidationCache | None = None
) -> Iterator[Diagnostic]:
    """Scan every text file under the prompts folder (or those in `scope`), loaded or not: a credential must
    never reach a registry."""
    root = project.prompts_root
    prefix = files.relative(root, project.root)
    candidates = sorted(_text_files(root, prefix)) if root.is_dir() else []
    if scope is not None:
        candidates = [(rel, path) for rel, path in candidates if rel in scope]
    for rel, path in candidates:
        if rel in project.scanned:
            continue  # loading read it and reported its secrets with its problems
        scan = partial(_secrets_in, path, project)
        yield from cache.secrets(rel, scan) if cache is not None else scan()


def _secrets_in(path: str, project: Project) -> list[Diagnostic]:
    read = files.read_text(Path(path), project.root, scope=project.scope, max_bytes=files.MAX_DATASET_BYTES)
    return sensitive.secret_diagnostics(read.path, read.text) if read.text is not None else []


def _text_files(root: Path, prefix: str) -> Iterator[tuple[str, str]]:
    """Yield (project-relative path, full path) of the regular files under `root` (at `prefix` in the project),
    not descending into dot-folders (.git, .venv): never read anyway."""
    top_length = len(str(root)) + 1
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        below = folder[top_length:].replace(os.sep, "/")
        at = "/".join(part for part in (prefix, below) if part and part != ".")
        for name in names:
            path = os.path.join(folder, name)
            if not name.startswith(".") and os.path.isfile(path):
                yield (f"{at}/{name}" if at else name), path
