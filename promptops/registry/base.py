"""The registry protocol: Langfuse's prompt semantics, implemented by the local SQLite store and by Langfuse.

Semantics (Langfuse's, REFERENCE §2): a prompt has immutable numbered versions starting at 1; `latest` is always
on the newest; any other label sits on at most one version of a name, and setting it on a version takes it off
the others; labels are never removed, only moved. promptops records its provenance in every version it creates
under the config key `_promptops`, because the prompt listing returns the newest matching version's config
(`lastConfig`): so the state of N prompts costs a few list pages, not N fetches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from promptops.model import DatasetSpec, RenderedPrompt

PROVENANCE_KEY = "_promptops"
PRODUCTION = "production"
LATEST = "latest"
REJECTED = "rejected"
RELEASE_RE = re.compile(r"^release-(\d+)$")


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

    def to_config(self) -> dict[str, Any]:
        """Return the mapping stored under `_promptops` in the version's config."""
        return {
            "hash": self.content_hash,
            "commit": self.git_commit,
            "source": self.source_path,
            "version": self.expected_version,
            "tool": self.tool,
        }

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
            )
        except (KeyError, TypeError, ValueError):
            return None


def user_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Return a version's config without promptops' provenance: what the content hash covers."""
    return {k: v for k, v in config.items() if k != PROVENANCE_KEY}


def release_numbers(labels: Sequence[str]) -> list[int]:
    """Return the N of every `release-N` label, ascending."""
    return sorted(int(m.group(1)) for label in labels if (m := RELEASE_RE.match(label)))


def next_release(all_labels: Sequence[str]) -> str:
    """Return the release label the next promotion of a prompt with these labels (all versions) sets."""
    numbers = release_numbers(all_labels)
    return f"release-{(numbers[-1] if numbers else 0) + 1}"


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
    """What two cheap listings (label=latest and label=production) tell about one prompt name."""

    name: str
    type: str
    latest_version: int
    latest_labels: tuple[str, ...]  # labels of the newest version only
    latest_config: Mapping[str, Any]
    production_version: int | None = None
    production_labels: tuple[str, ...] = ()
    production_config: Mapping[str, Any] | None = None

    @property
    def latest_provenance(self) -> Provenance | None:
        """Return the provenance recorded in the newest version."""
        return Provenance.from_config(self.latest_config)

    @property
    def latest_made_by_promptops(self) -> bool:
        """Return whether promptops created the newest version."""
        prov = self.latest_provenance
        return prov is not None and prov.expected_version == self.latest_version

    @property
    def production_provenance(self) -> Provenance | None:
        """Return the provenance recorded in the production version."""
        return Provenance.from_config(self.production_config)

    @property
    def latest_rejected(self) -> bool:
        """Return whether the gate rejected the newest version."""
        return REJECTED in self.latest_labels

    @property
    def latest_released(self) -> bool:
        """Return whether the newest version was ever released (it carries a release-N label)."""
        return bool(release_numbers(self.latest_labels))


@dataclass(frozen=True)
class DatasetSyncResult:
    """What pushing a dataset changed."""

    name: str
    created: bool
    upserted: int
    archived: int
    unchanged: int


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

    def create_version(
        self, rendered: RenderedPrompt, provenance: Provenance, *, labels: Sequence[str] = (), commit_message: str
    ) -> PromptVersion:
        """Create the next version with provenance in its config, or return the newest if it already is this content.

        Never a duplicate on retry, nor when another run creates the same content at the same moment (local: one
        transaction; Langfuse: best effort, see LangfuseRegistry.create_version).
        """
        ...

    def set_labels(self, name: str, version: int, labels: Sequence[str]) -> PromptVersion:
        """Add labels to a version, moving each off any other version of the name."""
        ...

    def promote(self, name: str, version: int, *, expect_production: int | None) -> PromptVersion:
        """Move production and the next release-N onto a version if production is still on `expect_production`.

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

    def sync_dataset(self, dataset: DatasetSpec) -> DatasetSyncResult:
        """Create or update the dataset, upsert its items by id and archive items no longer in git."""
        ...

    def dataset_items(self, name: str) -> list[RemoteItem]:
        """Return the active items of a dataset."""
        ...

    def close(self) -> None:
        """Release connections and flush anything buffered."""
        ...
