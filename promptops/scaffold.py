"""Scaffold promptops into an existing repository: config, a first prompt with its dataset and partial, the workflow."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

from promptops.errors import ConfigError, PromptopsError

WORKFLOW = ".github/workflows/promptops.yml"
SPEC_TOKEN = "__PROMPTOPS_SPEC__"
PROMPTS_DIR_TOKEN = "__PROMPTS_DIR__"
IGNORED = ".promptops/"  # the embedded registry's folder: local state, never committed
VENV = ".venv/"  # the docs' `python3 -m venv .venv`: with `git add -A` it would be committed
# A requirement a runner can download: promptops (with extras) from an http(s) URL, a git one pinned or not.
REACHABLE_SPEC = re.compile(r"^promptops(\[[\w, -]+\])?\s*@\s*(git\+)?https?://\S+$")
PLACEHOLDERS = ("SET-ME", "OWNER", "COMMIT", "<host>", "<owner>", "<commit>")
SCHEMAS_DIR = ".schemas"  # under the prompts folder: editors read the JSON Schemas from here, offline
# path under the prompts folder -> template in promptops/templates/
PROMPT_FILES = {
    "hello.yaml": "hello.yaml",
    "datasets/hello.yaml": "hello-dataset.yaml",
    "_partials/voice.jinja": "voice.jinja",
}


class FilesExist(PromptopsError):
    """init would overwrite files that exist; it wrote nothing."""


class SpecUnknown(PromptopsError):
    """init cannot tell which pip requirement CI should install promptops from; it wrote nothing."""


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
    name on PyPI belongs to another project, so it is not guessed. A local folder or a `git+file://` clone
    exists only on this machine, so it is unknown too.
    """
    if direct_url is None:
        return None
    info = json.loads(direct_url)
    url = str(info.get("url", ""))
    if not url.startswith(("https://", "http://")):
        return None
    vcs = info.get("vcs_info") or {}
    if vcs.get("vcs") == "git" and vcs.get("commit_id"):
        return f"promptops @ git+{url}@{vcs['commit_id']}"
    if vcs or info.get("dir_info"):
        return None  # another VCS, or a folder served over http: nothing CI can pin
    return f"promptops @ {url}"


def check_spec(spec: str) -> str:
    """Return a user-given pip requirement for CI, or raise SpecUnknown when a runner could not install it."""
    spec = spec.strip()
    placeholder = next((p for p in PLACEHOLDERS if p in spec), None)
    if placeholder is None and REACHABLE_SPEC.match(spec):
        return spec
    why = f"it still holds the placeholder {placeholder}" if placeholder else "a runner cannot install it"
    raise SpecUnknown(
        f"--spec {spec!r}: {why}. Give a requirement pinned to something CI can download, e.g. "
        "'promptops @ git+https://<host>/<owner>/promptops@<commit>' or 'promptops @ https://<host>/promptops-"
        "0.1.0-py3-none-any.whl' (a bare 'promptops' installs PyPI's unrelated package, and a local path does not "
        "exist on the runner)"
    )


def _running_spec() -> str:
    """Return the pip requirement of the promptops running now, or raise SpecUnknown saying what to give."""
    try:
        dist = metadata.distribution("promptops")
        direct_url = dist.read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        direct_url = None  # imported from a source tree, not installed
    spec = install_spec(direct_url)
    if spec is not None:
        return spec
    source = _local_source(direct_url)
    suggestion = _suggested_spec(source) if source is not None else None
    where = f"from the local folder {source}" if source is not None else "from an install that does not say its source"
    give = (
        f"`promptops init --spec '{suggestion}'` (that folder's origin remote at its HEAD commit; push it first)"
        if suggestion
        else "`promptops init --spec 'promptops @ git+https://<host>/<owner>/promptops@<commit>'`"
    )
    raise SpecUnknown(
        f"init cannot tell where CI should install promptops from: it runs {where}, which GitHub's runners cannot "
        f"reach, and the 'promptops' on PyPI is an unrelated package. Give the pip requirement {WORKFLOW} should "
        f"install, pinned: {give}, or set PROMPTOPS_SPEC. init wrote nothing"
    )


def _local_source(direct_url: str | None) -> Path | None:
    if direct_url is None:
        return None
    url = str(json.loads(direct_url).get("url", ""))
    return Path(url.removeprefix("file://")) if url.startswith("file://") else None


def _suggested_spec(folder: Path) -> str | None:
    """Return `promptops @ git+<origin>@<HEAD>` for a local git checkout whose origin is an https URL."""
    import subprocess

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    origin, commit = git("remote", "get-url", "origin"), git("rev-parse", "HEAD")
    if not origin.startswith("https://") or not commit:
        return None
    return f"promptops @ git+{origin}@{commit}"


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
    """Return .gitignore with the registry folder and .venv/ added, or None when both are ignored already."""
    path = root / ".gitignore"
    text = path.read_text("utf-8") if path.is_file() else ""
    present = {line.strip().strip("/") for line in text.splitlines()}
    missing = [entry for entry in (IGNORED, VENV) if entry.strip("/") not in present]
    if not missing:
        return None
    return text + ("" if not text or text.endswith("\n") else "\n") + "".join(f"{entry}\n" for entry in missing)


def scaffold(root: Path, *, force: bool = False, spec: str | None = None) -> ScaffoldResult:
    """Write the scaffold into `root`; raise FilesExist (writing nothing) if a file exists, unless `force`.

    `spec` is the pip requirement the workflow installs promptops from (default: where the running promptops
    came from, when CI can reach it; else SpecUnknown says what to give, and nothing is written).
    """
    config_path, config_text, prompts_dir = _config_plan(root)
    spec = check_spec(spec) if spec is not None else _running_spec()
    from promptops.schema import schema_text

    files = {f"{prompts_dir}/{rel}": template(name) for rel, name in PROMPT_FILES.items()}
    files |= {f"{prompts_dir}/{SCHEMAS_DIR}/{kind}.schema.json": schema_text(kind) for kind in ("prompt", "dataset")}
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
    warnings = []
    if not (root / ".git").exists():
        warnings.append(
            f"{root} is not the root of a git repository: GitHub reads {WORKFLOW} only at the repository root"
        )
    return ScaffoldResult(tuple(changes), tuple(warnings), prompts_dir)
