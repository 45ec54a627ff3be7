"""import and pull: bring what is in the registry into git, exactly (docs/adopting.md).

Both check their work before writing anything: the files are written into a scratch copy of the project,
loaded and rendered there, and only a file that renders to the stored version's content byte for byte is
written into the repository. After an import, `diff` finds production holding every imported file's content
(content addressing adopts the version; no new one is made), so the first sync creates nothing.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptops.api.settings import Settings, load, opened_registry
from promptops.errors import LabelNotFound, PromptNotFound, PromptopsError
from promptops.model import Project
from promptops.registry.base import DatasetInfo, PromptVersion, Registry
from promptops.registry.labels import LATEST, PRODUCTION

HEADER = "# Imported by `promptops import` from {where}. Review it, describe the variables, commit it."


@dataclass(frozen=True)
class ImportedFile:
    """One file an import wrote (or would write, or refused to overwrite)."""

    path: str  # relative to the project root
    kind: str  # prompt | dataset
    name: str
    version: int | None  # the prompt version it holds
    outcome: str  # written | would-write | exists | failed
    note: str = ""


@dataclass(frozen=True)
class ImportResult:
    """What `promptops import` did."""

    registry: str
    files: tuple[ImportedFile, ...]
    dry_run: bool

    @property
    def failed(self) -> bool:
        """Return whether some file could not be imported exactly (or would overwrite one)."""
        return any(f.outcome in ("failed", "exists") for f in self.files)


def import_prompts(
    settings: Settings,
    names: Sequence[str] = (),
    *,
    label: str = PRODUCTION,
    datasets: bool = False,
    dry_run: bool = False,
    force: bool = False,
    registry: Registry | None = None,
) -> ImportResult:
    """Write prompt files (and with `datasets`, dataset files) that render to the registry's versions exactly."""
    from promptops import importing

    prompts_dir = settings.config.prompts_dir
    with opened_registry(settings, registry) as reg:
        chosen = _chosen(reg, names)
        versions = {name: _version(reg, name, label) for name in chosen}
        infos = reg.list_datasets() if datasets else []
        items = {info.name: reg.dataset_items(info.name) for info in infos}
        where = reg.describe()
    planned: dict[str, tuple[str, str, str, int | None, str]] = {}  # path -> (kind, name, text, version, note)
    for info in infos:
        doc = importing.dataset_document(info.description, info.metadata, items[info.name])
        text = importing.to_yaml(doc, HEADER.format(where=where))
        planned[f"{prompts_dir}/datasets/{_dataset_file(info.name)}.yaml"] = ("dataset", info.name, text, None, "")
    known = _local_datasets(settings, infos, items)
    for name, (version, note) in versions.items():
        path = importing.file_path(name) or importing.fallback_path(name)
        stem = path.removesuffix(".yaml")
        experiment = _experiment_for(version, known)
        doc = importing.prompt_document(version, path_name=stem, experiment=experiment, source_label=note or label)
        text = importing.to_yaml(doc, HEADER.format(where=where))
        planned[f"{prompts_dir}/{path}"] = ("prompt", name, text, version.version, _skip_note(experiment))
    checked = _verify(settings, planned, {n: v for n, (v, _) in versions.items()})
    files = []
    for path, (kind, name, text, number, note) in sorted(planned.items()):
        target = settings.root / path
        problem = checked.get(path)
        if problem:
            files.append(ImportedFile(path, kind, name, number, "failed", problem))
        elif target.exists() and not force:
            files.append(ImportedFile(path, kind, name, number, "exists", "exists already; --force overwrites it"))
        elif dry_run:
            files.append(ImportedFile(path, kind, name, number, "would-write", note))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, "utf-8")
            files.append(ImportedFile(path, kind, name, number, "written", note))
    return ImportResult(where, tuple(files), dry_run)


def _chosen(reg: Registry, names: Sequence[str]) -> list[str]:
    """Return the registry's prompt names to import: `names`, or every prompt; unknown names are an error."""
    from difflib import get_close_matches

    known = [s.name for s in reg.list_prompts()]
    missing = [n for n in names if n not in known]
    if missing:
        close = {n: get_close_matches(n, known, n=1) for n in missing}
        hints = "; ".join(f"{n!r}" + (f" (did you mean {c[0]}?)" if c else "") for n, c in close.items())
        raise PromptNotFound(f"not in the {reg.describe()}: {hints}")
    return list(names) or known


def _version(reg: Registry, name: str, label: str) -> tuple[PromptVersion, str]:
    """Return the version holding `label`; with the default label, fall back to the newest (and say so)."""
    try:
        return reg.get_version(name, label=label), ""
    except LabelNotFound:
        if label != PRODUCTION:
            raise
        return reg.get_version(name, label=LATEST), "newest version (no version holds production)"


def _dataset_file(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "dataset"


def _local_datasets(
    settings: Settings, infos: Sequence[DatasetInfo], items: Mapping[str, Sequence[Any]]
) -> dict[str, list[set[str]]]:
    """Return, for each dataset a prompt could use (imported now, or already in the repository), its items' keys."""
    found: dict[str, list[set[str]]] = {}
    try:
        project = load(settings)
        for d in project.datasets:
            found[d.name] = [set(i.input) for i in d.items]
    except PromptopsError:
        pass
    for info in infos:
        found[info.name] = [set(i.input) if isinstance(i.input, dict) else {"input"} for i in items[info.name]]
    return found


def _experiment_for(version: PromptVersion, datasets: Mapping[str, list[set[str]]]) -> dict[str, Any]:
    """Return an experiment on the dataset named like the prompt whose items fill its variables; else a skip."""
    from promptops.importing import variables_in

    texts = [version.prompt] if isinstance(version.prompt, str) else [m.get("content", "") for m in version.prompt]
    needed = {v for text in texts for v in variables_in(str(text))}
    for candidate in (version.name, version.name.rsplit("/", 1)[-1]):
        keys = datasets.get(candidate)
        if keys and all(needed <= k for k in keys):
            return {"dataset": candidate, "evaluators": [{"type": "exact_match"}]}
    return {
        "skip": "imported without an experiment: no dataset named like the prompt whose items fill its variables; "
        "add one under datasets/ and an experiment here"
    }


def _skip_note(experiment: Mapping[str, Any]) -> str:
    return "no experiment yet (an explicit skip says why)" if "skip" in experiment else ""


def _verify(
    settings: Settings, planned: Mapping[str, tuple[str, str, str, int | None, str]], versions: Mapping[str, Any]
) -> dict[str, str]:
    """Write the planned files into a scratch copy of the project and return the problem of each that fails."""
    from promptops import render as rendering
    from promptops.project import load_project
    from promptops.validate import validate_project

    problems: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="promptops-import-") as tmp:
        scratch = _scratch(settings, Path(tmp), {p: text for p, (_, _, text, _, _) in planned.items()})
        project = load_project(scratch, settings.config)
        errors = [d for d in validate_project(project) if d.severity == "error"]
        for path, (kind, name, *_rest) in planned.items():
            mine = [d for d in errors if d.path == path]
            if mine:
                problems[path] = "; ".join(f"{d.location()}: {d.message}" for d in mine[:3])
                continue
            if kind != "prompt":
                continue
            spec = project.prompt(name)
            if spec is None:
                problems[path] = "the file does not load as that prompt"
                continue
            try:
                rendered = rendering.render(spec, project.prompts_root, project.root)
            except PromptopsError as exc:
                problems[path] = f"does not render: {exc}"
                continue
            if rendered.content_hash != versions[name].content_hash():
                problems[path] = "would not render to the stored text exactly (please report this)"
    return problems


def _scratch(settings: Settings, tmp: Path, files: Mapping[str, str]) -> Path:
    """Copy the project's config and prompts folder into `tmp`, then write `files` over it; return its root."""
    source = settings.root / (settings.config.source or "promptops.yaml")
    if source.is_file():
        shutil.copyfile(source, tmp / source.name)
    else:
        (tmp / "promptops.yaml").write_text(f"prompts_dir: {settings.config.prompts_dir}\n", "utf-8")
    prompts = settings.root / settings.config.prompts_dir
    if prompts.is_dir():
        shutil.copytree(prompts, tmp / settings.config.prompts_dir, symlinks=True)
    for path, text in files.items():
        target = tmp / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, "utf-8")
    return tmp


@dataclass(frozen=True)
class PullResult:
    """What `promptops pull` wrote: the files changed, and the version they now render to."""

    name: str
    version: int
    files: tuple[str, ...]  # empty when the file already renders to that version


def pull(
    settings: Settings,
    name: str,
    *,
    version: int | None = None,
    label: str | None = None,
    registry: Registry | None = None,
) -> PullResult:
    """Write a registry version (default: the newest) back into the prompt's files, keeping everything else."""
    from promptops import render as rendering

    project = load(settings)
    spec = project.prompt(name)
    if spec is None:
        known = ", ".join(p.name for p in project.prompts) or "none"
        raise PromptNotFound(f"no prompt named {name!r} in {settings.config.prompts_dir}/ (prompts: {known})")
    with opened_registry(settings, registry) as reg:
        stored = reg.get_version(name, version=version, label=label or (None if version else LATEST))
    current = rendering.render(spec, project.prompts_root, project.root)
    if current.content_hash == stored.content_hash():
        return PullResult(name, stored.version, ())
    edits = _pull_edits(project, spec, current, stored)
    problem = _verify_edits(settings, name, edits, stored)
    if problem:
        raise PullRefusedAfterCheck(f"{name}: {problem}; nothing was written")
    for path, text in edits.items():
        (settings.root / path).write_text(text, "utf-8")
    return PullResult(name, stored.version, tuple(sorted(edits)))


class PullRefusedAfterCheck(PromptopsError):
    """The rewritten files would not render to the registry's version."""


def _pull_edits(project: Project, spec: Any, current: Any, stored: PromptVersion) -> dict[str, str]:
    """Return path -> new text for the prompt's files so that they render to `stored`."""
    from promptops.pulling import PullRefused, edit_template, replace_block
    from promptops.registry.base import user_config

    root = project.root
    runtime = spec.runtime_names()
    if (stored.type == "chat") != (spec.type == "chat"):
        raise PullRefused(
            f"{spec.name}: version {stored.version} is a {stored.type} prompt and the file a {spec.type} one"
        )
    original = (root / spec.path).read_text("utf-8")
    edits: dict[str, str] = {}
    # Rewrites of the YAML file, each at the line of its key, applied bottom-up so earlier lines stay put.
    rewrites: list[tuple[int, Callable[[str], str]]] = []

    def block(line: int, value: str) -> None:
        rewrites.append((line, lambda text: replace_block(text, line, value)))

    if isinstance(stored.prompt, str):
        assert isinstance(current.prompt, str) and spec.template is not None
        template = edit_template(spec.template, current.prompt, stored.prompt, runtime)
        if spec.template_path != spec.path:
            edits[spec.template_path] = template
        else:
            block(spec.position("prompt")[0] or 1, template)
    else:
        _check_shape(spec, stored)
        for index, message in enumerate(spec.messages):
            old, new = current.prompt[index], stored.prompt[index]
            if message.content is None or old.get("content") == new.get("content"):
                continue
            content = edit_template(message.content, str(old["content"]), str(new["content"]), runtime)
            block(spec.position(f"messages.{index}.content")[0] or 1, content)
    config = user_config(stored.config)
    if config != dict(current.config):
        line = spec.positions.get("config", (10**9, 1))[0]
        rewrites.append((line, lambda text: _with_config(text, line, config)))
    yaml_text = original
    for _, rewrite in sorted(rewrites, key=lambda r: r[0], reverse=True):
        yaml_text = rewrite(yaml_text)
    if yaml_text != original:
        edits[spec.path] = yaml_text
    return edits


def _check_shape(spec: Any, stored: PromptVersion) -> None:
    from promptops.pulling import PullRefused

    ours = [(m.role, m.placeholder) for m in spec.messages]
    assert not isinstance(stored.prompt, str)
    theirs = [(m.get("role"), m.get("name") if m.get("type") == "placeholder" else None) for m in stored.prompt]
    if ours != theirs:
        raise PullRefused(
            f"{spec.name}: version {stored.version} has other messages than the file (roles and placeholders "
            f"{theirs} instead of {ours}): edit the file by hand"
        )


def _with_config(yaml_text: str, start: int, config: Mapping[str, Any]) -> str:
    """Replace the top-level `config:` block starting on line `start` (its comments go with it), or append one."""
    import yaml

    lines = yaml_text.splitlines(keepends=True)
    block = yaml.safe_dump({"config": dict(config)}, sort_keys=False, allow_unicode=True) if config else ""
    if start > len(lines):
        return yaml_text.rstrip("\n") + "\n" + block
    end = start
    while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t#"):
        end += 1
    return "".join([*lines[: start - 1], block, *lines[end:]])


def _verify_edits(settings: Settings, name: str, edits: Mapping[str, str], stored: PromptVersion) -> str:
    """Return why the edited files would not render to `stored` (empty when they do)."""
    from promptops import render as rendering
    from promptops.project import load_project
    from promptops.validate import validate_project

    with tempfile.TemporaryDirectory(prefix="promptops-pull-") as tmp:
        scratch = _scratch(settings, Path(tmp), edits)
        project = load_project(scratch, settings.config)
        spec = project.prompt(name)
        errors = [d for d in validate_project(project) if d.severity == "error" and d.path in edits]
        if errors or spec is None:
            return "the rewritten file does not validate: " + "; ".join(d.message for d in errors[:3])
        rendered = rendering.render(spec, project.prompts_root, project.root)
        if rendered.content_hash != stored.content_hash():
            return f"the rewritten file would not render to version {stored.version} exactly"
    return ""
