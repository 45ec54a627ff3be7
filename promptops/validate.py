"""Validate a loaded project: every problem across every file, sorted, each saying what to do. Writes nothing."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from promptops import files, parallel, portability, printable, sensitive
from promptops.experiment_check import dataset_coverage, experiment_problems
from promptops.model import Diagnostic, Project, PromptFacts, PromptSpec, RenderedPrompt

if TYPE_CHECKING:
    from promptops import render
    from promptops.validation_cache import ValidationCache

# Langfuse's own rules (REFERENCE §2.2, §2.3).
LABEL_RE = re.compile(r"^[a-z0-9_\-.]+$")
LABEL_MAX = 36
RESERVED_NAMES = ("new", "metrics", "prompt-detail")
MANAGED_LABELS = ("latest", "production")
RELEASE_LABEL = re.compile(r"^release-\d+$")


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
    facts = [PromptFacts.of(spec) for spec in project.prompts]
    if project.answered:  # prompts whose answer validate kept (their files are unchanged), in file order as loaded
        facts += [a.facts for a in project.answered.values() if a.facts is not None]
        facts.sort(key=lambda f: f.path.split("/"))
    diags.extend(d for d in _duplicate_names(facts) if only is None or d.path in (scope or ()))
    datasets = {d.name: d for d in project.datasets}
    partials: render.Partials = {}  # each partial is read and analysed once in this pass
    sizes: dict[str, int] = {}  # of dataset files, asked once
    todo = [i for i, spec in enumerate(specs) if cache is None or not cache.has_check(spec)]
    # The prompts not cached: checked by every core when there are many (parallel.py), in this order.
    checked = parallel.ordered_map(lambda j: _check_prompt(specs[todo[j]], project, partials), len(todo))
    checks = dict(zip(todo, checked, strict=True))
    for i, spec in enumerate(specs):
        if cache is not None:
            problems, result = cache.check(spec, partial(checks.__getitem__, i))
        else:
            problems, result, _ = checks[i]
        if result is not None:
            rendered[spec.name] = result
        problems += experiment_problems(spec, project, datasets, sizes)
        diags.extend(problems)
        if cache is not None:
            cache.keep_answer(spec, problems)
    for answer in project.answered.values():
        diags.extend(answer.problems)
    diags.extend(dataset_coverage(project, facts if only is None else map(PromptFacts.of, specs)))
    diags.extend(_secrets(project, scope, cache))
    return sorted({_printable(d) for d in diags}, key=_sort_key), rendered


def _check_prompt(
    spec: PromptSpec, project: Project, partials: render.Partials
) -> tuple[list[Diagnostic], RenderedPrompt | None, set[str]]:
    """Return what depends on a prompt's own files (and the partials it includes) only: its name, labels and
    templates, and whether what it renders compiles alike in every SDK; the rendering, when all is well; and
    the include names its checks looked up (what the answer depends on)."""
    from promptops import render  # Jinja: imported only when a prompt is checked, not when the cache answers all

    diags, included = [*name_problems(spec), *label_problems(spec)], set[str]()
    problems, result = render.check_prompt(
        spec, project.prompts_root, project.root, scope=project.scope, partials=partials, included=included
    )
    diags.extend(problems)
    unportable = portability_problems(spec, result) if result is not None else []
    return [*diags, *unportable], (None if unportable else result), included


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


def _duplicate_names(prompts: Iterable[PromptFacts]) -> Iterator[Diagnostic]:
    first: dict[str, PromptFacts] = {}
    for facts in prompts:
        if facts.name in first:
            line, col = facts.name_at
            yield Diagnostic(
                facts.path,
                line,
                col,
                "duplicate-name",
                "error",
                f"prompt name {facts.name!r} is already used by {first[facts.name].path}: rename one of them",
            )
        else:
            first[facts.name] = facts


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
