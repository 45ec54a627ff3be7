"""Scaffold promptops into an existing repository: config, a first prompt with its dataset and partial, the workflow."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

from promptops.errors import ConfigError, PromptopsError

WORKFLOW = ".github/workflows/promptops.yml"
SPEC_TOKEN = "__PROMPTOPS_SPEC__"
PROMPTS_DIR_TOKEN = "__PROMPTS_DIR__"
IGNORED = ".promptops/"  # the embedded registry's folder: local state, never committed
# path under the prompts folder -> template in promptops/templates/
PROMPT_FILES = {
    "hello.yaml": "hello.yaml",
    "datasets/hello.yaml": "hello-dataset.yaml",
    "_partials/voice.jinja": "voice.jinja",
}


class FilesExist(PromptopsError):
    """init would overwrite files that exist; it wrote nothing."""


@dataclass(frozen=True)
class Change:
    """One file init wrote: its path (POSIX, relative to the root) and what happened to it."""

    path: str
    action: str  # created, overwritten, appended, kept


@dataclass(frozen=True)
class ScaffoldResult:
    """What init did, and what the user should know about it."""

    changes: tuple[Change, ...]
    warnings: tuple[str, ...]
    prompts_dir: str


def template(name: str) -> str:
    """Return the text of a template shipped in promptops/templates/."""
    return resources.files("promptops").joinpath("templates", name).read_text("utf-8")


def workflow(spec: str, prompts_dir: str = "prompts") -> str:
    """Return the prompt workflow for a repository whose CI installs promptops with pip requirement `spec`."""
    text = template("promptops-workflow.yml")
    # JSON strings are YAML double-quoted scalars, so any spec (quotes, @, spaces) stays one value.
    return text.replace(f'"{SPEC_TOKEN}"', json.dumps(spec)).replace(PROMPTS_DIR_TOKEN, prompts_dir)


def install_spec(direct_url: str | None) -> str | None:
    """Return the pip requirement that reinstalls this promptops in CI, or None when its source is unknown.

    No direct_url.json means an index install or an old editable one; neither tells which index, and the
    name on PyPI belongs to another project, so it is not guessed.
    """
    if direct_url is None:
        return None
    info = json.loads(direct_url)
    url = str(info.get("url", ""))
    vcs = info.get("vcs_info") or {}
    if vcs.get("vcs") == "git" and vcs.get("commit_id"):
        return f"promptops @ git+{url}@{vcs['commit_id']}"
    if url.startswith(("https://", "http://")):
        return f"promptops @ {url}"
    return None


def _running_spec() -> tuple[str, str | None]:
    """Return (spec, warning) for the promptops installation running now."""
    from promptops import __version__

    try:
        spec = install_spec(metadata.distribution("promptops").read_text("direct_url.json"))
    except metadata.PackageNotFoundError:
        spec = None  # imported from a source tree, not installed
    if spec is not None:
        return spec, None
    # Not `promptops==VERSION`: another project publishes under that name on PyPI, and a workflow that holds
    # secrets must never install a stranger's package. A requirement pip refuses makes the gap loud instead.
    fallback = f"SET-ME: the pip requirement of promptops {__version__}"
    return fallback, (
        f"promptops runs from a local folder here, so {WORKFLOW} cannot know where CI should install it from: "
        "replace PROMPTOPS_SPEC there with a pinned requirement, "
        "e.g. 'promptops @ git+https://github.com/OWNER/promptops@COMMIT'"
    )


def _config_plan(root: Path) -> tuple[str | None, str, str]:
    """Return (path to write or None when a config exists, its new text, the prompts folder)."""
    yaml_config = root / "promptops.yaml"
    pyproject = root / "pyproject.toml"
    if yaml_config.is_file():
        return None, "", _configured_prompts_dir(root)
    if not pyproject.is_file():
        return "promptops.yaml", template("promptops.yaml"), "prompts"
    text = pyproject.read_text("utf-8")
    try:
        tool = tomllib.loads(text).get("tool", {})
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"pyproject.toml: not valid TOML, so init cannot add [tool.promptops]: {exc}") from exc
    if "promptops" in tool:
        return None, "", _configured_prompts_dir(root)
    separator = "" if not text else ("\n" if text.endswith("\n") else "\n\n")
    new_text = text + separator + template("pyproject-tool.toml")
    try:
        tomllib.loads(new_text)
    except tomllib.TOMLDecodeError as exc:  # e.g. a [tool] table that forbids the new header
        raise ConfigError(f"pyproject.toml: cannot append [tool.promptops] ({exc}): add it by hand") from exc
    return "pyproject.toml", new_text, "prompts"


def _configured_prompts_dir(root: Path) -> str:
    from promptops.config import load_config

    return load_config(root).prompts_dir


def _ignore_text(root: Path) -> str | None:
    """Return .gitignore with the registry folder added, or None when it is ignored already."""
    path = root / ".gitignore"
    text = path.read_text("utf-8") if path.is_file() else ""
    if any(line.strip() in (IGNORED, IGNORED.rstrip("/"), "/" + IGNORED) for line in text.splitlines()):
        return None
    return text + ("" if not text or text.endswith("\n") else "\n") + IGNORED + "\n"


def scaffold(root: Path, *, force: bool = False) -> ScaffoldResult:
    """Write the scaffold into `root`; raise FilesExist (writing nothing) if a file exists, unless `force`."""
    config_path, config_text, prompts_dir = _config_plan(root)
    spec, warning = _running_spec()
    files = {f"{prompts_dir}/{rel}": template(name) for rel, name in PROMPT_FILES.items()}
    files[WORKFLOW] = workflow(spec, prompts_dir)
    existing = [rel for rel in files if (root / rel).exists()]
    if existing and not force:
        listed = "\n".join(f"  {rel}" for rel in existing)
        raise FilesExist(f"init would overwrite these files, so it wrote nothing (--force overwrites them):\n{listed}")
    changes = []
    if config_path is None:
        changes.append(Change("promptops.yaml" if (root / "promptops.yaml").is_file() else "pyproject.toml", "kept"))
    else:
        appended = config_path == "pyproject.toml"
        (root / config_path).write_text(config_text, "utf-8")
        changes.append(Change(config_path, "appended" if appended else "created"))
    for rel, text in files.items():
        path = root / rel
        action = "overwritten" if path.exists() else "created"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
        changes.append(Change(rel, action))
    ignore = _ignore_text(root)
    if ignore is not None:
        action = "appended" if (root / ".gitignore").is_file() else "created"
        (root / ".gitignore").write_text(ignore, "utf-8")
        changes.append(Change(".gitignore", action))
    warnings = [warning] if warning else []
    if not (root / ".git").exists():
        warnings.append(
            f"{root} is not the root of a git repository: GitHub reads {WORKFLOW} only at the repository root"
        )
    return ScaffoldResult(tuple(changes), tuple(warnings), prompts_dir)
