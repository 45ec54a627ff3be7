"""The checks of a prompt's experiment against the rest of the project: the dataset it names and whether each of
its items gives the prompt's required variables, its evaluators and custom `module:function` code (found without
importing anything), the gate's metrics, and how large one run would be."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from promptops import files, printable
from promptops.model import DATASETS_DIR, DatasetItem, DatasetSpec, Diagnostic, Project, PromptFacts, PromptSpec

BUILTIN_METRICS = ("latency_p50", "latency_p95", "error_rate")
MOCK_MODEL = "mock-llm-v1"
MAX_PLANNED_RUNS = 100_000  # items × repeats of one experiment run
MAX_EXPERIMENT_BYTES = 256 * 2**20  # dataset file size × repeats: what one run reads, traces and records


def experiment_problems(
    spec: PromptSpec, project: Project, datasets: Mapping[str, object], sizes: dict[str, int]
) -> list[Diagnostic]:
    """Return the problems of a prompt's experiment (`sizes`: the dataset files' sizes asked in this pass)."""
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
        folder = project.prompts_root / DATASETS_DIR
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


def dataset_coverage(project: Project, prompts: Iterable[PromptFacts]) -> Iterator[Diagnostic]:
    """Every item of a dataset must give every required runtime variable of the prompts that use it."""
    lacking: dict[tuple[str, tuple[str, ...]], list[tuple[DatasetItem, list[str]]]] = {}  # many prompts share both
    for facts in prompts:
        dataset = project.dataset(facts.dataset) if facts.dataset is not None else None
        if dataset is None:
            continue
        required = facts.required
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
                f"item {item.id!r} has no input {', '.join(map(repr, missing))}, which prompt {facts.name!r} "
                "requires: add it to the item's `input`",
            )
