"""The registry protocol: Langfuse's prompt semantics, implemented by the local SQLite store and by Langfuse.

Semantics (Langfuse's, REFERENCE §2): a prompt has immutable numbered versions starting at 1; `latest` is always
on the newest; any other label sits on at most one version of a name, and setting it on a version takes it off
the others; labels are never removed, only moved. promptops records its provenance in every version it creates
under the config key `_promptops`, because the prompt listing returns the newest matching version's config
(`lastConfig`): so the state of N prompts costs a few list pages, not N fetches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from promptops.model import DatasetSpec, RenderedPrompt
from promptops.registry.labels import Decisions

PROVENANCE_KEY = "_promptops"


@dataclass(frozen=True)
class Provenance:
    """Where a version came from: the hash of what was stored, the git commit and file, and the version it expected.

    `expected_version` is the number the version was going to get (highest + 1 when created). A version whose
    provenance names another number was not created by promptops (e.g. a UI edit copied the config along).
    """

    content_hash: str
    git_commit: str | None
    source_path: str
    expected_version: int
    tool: str = "promptops"
    dirty: bool = False  # made from uncommitted changes (sync --allow-dirty): git_commit is HEAD, not the source

    def to_config(self) -> dict[str, Any]:
        """Return the mapping stored under `_promptops` in the version's config."""
        stored: dict[str, Any] = {
            "hash": self.content_hash,
            "commit": self.git_commit,
            "source": self.source_path,
            "version": self.expected_version,
            "tool": self.tool,
        }
        if self.dirty:
            stored["dirty"] = True
        return stored

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> Provenance | None:
        """Read provenance from a version's config, or None if it has none (or a malformed one)."""
        raw = (config or {}).get(PROVENANCE_KEY)
        if not isinstance(raw, Mapping):
            return None
        try:
            return cls(
                content_hash=str(raw["hash"]),
                git_commit=raw.get("commit"),
                source_path=str(raw.get("source", "")),
                expected_version=int(raw["version"]),
                tool=str(raw.get("tool", "promptops")),
                dirty=raw.get("dirty") is True,
            )
        except (KeyError, TypeError, ValueError):
            return None


def user_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Return a version's config without promptops' provenance: what the content hash covers."""
    return {k: v for k, v in config.items() if k != PROVENANCE_KEY}


def production_moved(name: str, expected: int | None, current: int | None) -> str:
    """Return the message of a promotion refused because production is no longer where the caller measured it."""

    def named(version: int | None) -> str:
        return f"version {version}" if version is not None else "no version"

    return f"{name}: production moved from {named(expected)} to {named(current)} since it was read"


@dataclass(frozen=True)
class PromptVersion:
    """One stored version of a prompt."""

    name: str
    version: int
    type: str
    prompt: str | tuple[Mapping[str, str], ...]
    config: Mapping[str, Any]  # as stored, including `_promptops`
    labels: tuple[str, ...]
    tags: tuple[str, ...]
    commit_message: str | None
    created_at: str | None = None
    created_by: str | None = None

    @property
    def provenance(self) -> Provenance | None:
        """Return promptops' provenance of this version, if it has one."""
        return Provenance.from_config(self.config)

    @property
    def made_by_promptops(self) -> bool:
        """Return whether promptops created this version (its provenance names this very version)."""
        prov = self.provenance
        return prov is not None and prov.expected_version == self.version

    def content_hash(self) -> str:
        """Return the hash of the stored content, computed the way render computes it."""
        from promptops.render import content_hash

        return content_hash(self.type, self.prompt, user_config(self.config))


@dataclass(frozen=True)
class PromptState:
    """What the listings tell about one prompt name, without a fetch per version.

    From the unfiltered listing: every version number, the union of all versions' labels (which carry the
    decisions, see registry/labels.py) and the newest version's config. From the label=production listing:
    the production version, its own labels and its config.
    """

    name: str
    type: str
    versions: tuple[int, ...]
    labels: tuple[str, ...]  # the union over every version, sorted
    latest_config: Mapping[str, Any]
    production_version: int | None = None
    production_labels: tuple[str, ...] = ()
    production_config: Mapping[str, Any] | None = None

    @property
    def latest_version(self) -> int:
        """Return the newest version number."""
        return max(self.versions)

    @property
    def decisions(self) -> Decisions:
        """Return what the labels of all versions say about contents."""
        return Decisions.of(self.labels)

    @property
    def latest_provenance(self) -> Provenance | None:
        """Return the provenance recorded in the newest version, if promptops made it."""
        prov = Provenance.from_config(self.latest_config)
        return prov if prov is not None and prov.expected_version == self.latest_version else None

    @property
    def production_provenance(self) -> Provenance | None:
        """Return the provenance recorded in the production version, if promptops made it."""
        prov = Provenance.from_config(self.production_config)
        return prov if prov is not None and prov.expected_version == self.production_version else None


@dataclass(frozen=True)
class DatasetSyncResult:
    """What pushing a dataset changed."""

    name: str
    created: bool
    upserted: int
    archived: int
    unchanged: int


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset as the registry lists it (its items are read separately)."""

    name: str
    description: str
    metadata: Mapping[str, Any]


@dataclass(frozen=True)
class RemoteItem:
    """A dataset item as the registry holds it."""

    id: str
    input: Any
    expected_output: Any
    metadata: Any
    status: str = "ACTIVE"


class Registry(Protocol):
    """A prompt registry with Langfuse's semantics."""

    name: str

    def describe(self) -> str:
        """Return a one-line description for stderr, e.g. `local registry at .promptops/registry.db`."""
        ...

    def list_prompts(self) -> list[PromptState]:
        """Return the state of every prompt, from listings only (no per-prompt fetches)."""
        ...

    def get_version(self, name: str, *, version: int | None = None, label: str | None = None) -> PromptVersion:
        """Return one version by number or label (default: production). Raises PromptNotFound/LabelNotFound."""
        ...

    def version_content(self, name: str, version: int, labels: Sequence[str]) -> PromptVersion:
        """Return a version to show its content, possibly from a cache when `labels` (as listed now) name its
        content; its labels are then the given ones. Not for decisions: use get_version."""
        ...

    def create_version(
        self, rendered: RenderedPrompt, provenance: Provenance, *, labels: Sequence[str] = (), commit_message: str
    ) -> PromptVersion:
        """Create the next version with provenance in its config and its content label (registry/labels.py).

        Content is never stored twice: when a version already carries this content's label, return it instead.
        Not on retry either, nor when another run creates the same content at the same moment (local: one
        transaction; Langfuse: best effort, see LangfuseRegistry.create_version).
        """
        ...

    def find_content(self, name: str, content_hash: str) -> PromptVersion | None:
        """Return the version that carries this content's label, or None (one request)."""
        ...

    def set_labels(self, name: str, version: int, labels: Sequence[str]) -> PromptVersion:
        """Add labels to a version, moving each off any other version of the name."""
        ...

    def promote(
        self, name: str, version: int, *, expect_production: int | None, labels: Sequence[str] = ()
    ) -> PromptVersion:
        """Move production, the next release-N and `labels` (the decision) onto a version, in one write, if
        production is still on `expect_production`.

        `expect_production` is the version whose results the promotion was judged against (None: no version held
        production). When production is elsewhere now, raise ConcurrentChange and move nothing: two syncs must not
        both win, nor number the same release twice. Local: one transaction; Langfuse: best effort.
        """
        ...

    def all_labels(self, name: str) -> tuple[str, ...]:
        """Return the union of the labels on every version of the name (one listing request)."""
        ...

    def labelled_versions(self, name: str) -> list[PromptVersion]:
        """Return every version of the name that carries a label other than `latest` (release history)."""
        ...

    def sync_dataset(self, dataset: DatasetSpec, *, dry_run: bool = False) -> DatasetSyncResult:
        """Create or update the dataset, upsert its items by id and archive items no longer in git.

        With `dry_run`, count what would be written and write nothing.
        """
        ...

    def dataset_items(self, name: str) -> list[RemoteItem]:
        """Return the active items of a dataset."""
        ...

    def list_datasets(self) -> list[DatasetInfo]:
        """Return every dataset's name, description and metadata, sorted by name."""
        ...

    def close(self) -> None:
        """Release connections and flush anything buffered."""
        ...
