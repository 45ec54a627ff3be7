"""The Langfuse registry: prompts and datasets of one Langfuse project, through the langfuse SDK's client.

Costs are what make this usable on hundreds of prompts: the state of every prompt comes from two paginated
listings (label=latest and label=production: REFERENCE §2.1 says each PromptMeta then describes exactly that
version, `lastConfig` included, and our provenance lives in the config). Creating a version is the one
non-idempotent write (REFERENCE §0.7, §3.4), so it is never retried blindly: the newest version is re-read
first, and a version that already carries our content hash is returned instead of created again.

Langfuse has no conditional writes, so what the local registry does in one transaction is best effort here:
a create re-reads before POSTing and undoes its own copy when another run created the same content in between;
a promotion re-reads production right before its PATCH and again after it (see `promote` for the window left).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from promptops.cachefile import SignedJson
from promptops.errors import (
    ConcurrentChange,
    ConfigError,
    LabelNotFound,
    PromptNotFound,
    PromptopsError,
    RegistryError,
)
from promptops.model import DatasetSpec, ProjectConfig, RenderedPrompt, TracingConfig
from promptops.registry.base import (
    DatasetInfo,
    DatasetSyncResult,
    PromptState,
    PromptVersion,
    Provenance,
    RemoteItem,
    production_moved,
)
from promptops.registry.labels import LATEST, PRODUCTION, content_label, next_release
from promptops.registry.langfuse_datasets import PAGE_LIMIT, WORKERS, LangfuseDatasets
from promptops.registry.langfuse_errors import MAX_ATTEMPTS, NO_SDK_RETRIES, Caller, server_message, status_of, wait_for
from promptops.registry.langfuse_listing import LangfuseListing
from promptops.registry.langfuse_wire import create_request, to_version

DEFAULT_HOST = "https://cloud.langfuse.com"
DEFAULT_TIMEOUT_S = 10.0
LATEST_IS_MANAGED = "the label 'latest' is always on the newest version and cannot be set"


def open_langfuse(root: Path, config: ProjectConfig, *, cache: bool = True) -> LangfuseRegistry:
    """Open the project of LANGFUSE_PUBLIC_KEY/LANGFUSE_SECRET_KEY at LANGFUSE_BASE_URL (or LANGFUSE_HOST).

    With `cache`, where production is and the content it holds are cached under .promptops/cache/ for the
    next command (registry/langfuse_listing.py).
    """
    public_key = os.environ.get("LANGFUSE_PUBLIC_KEY", "").strip()
    secret_key = os.environ.get("LANGFUSE_SECRET_KEY", "").strip()
    if not public_key or not secret_key:
        raise ConfigError(
            "the langfuse registry needs LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY (a project's API keys); "
            "set both, or use --registry local"
        )
    host, variable = host_from_env()
    project = hashlib.sha256(f"{host}\0{public_key}".encode()).hexdigest()[:16]
    state = SignedJson(root / ".promptops" / "cache" / f"langfuse-{project}.json", "langfuse-state") if cache else None
    return LangfuseRegistry(
        public_key, secret_key, host, timeout=timeout_from_env(), redact_patterns=config.redact_patterns,
        tracing=config.tracing, host_variable=variable, cache=state,
    )  # fmt: skip


def host_from_env() -> tuple[str, str]:
    """Return the Langfuse base URL and the variable it came from (LANGFUSE_BASE_URL, else the older LANGFUSE_HOST)."""
    for variable in ("LANGFUSE_BASE_URL", "LANGFUSE_HOST"):
        host = os.environ.get(variable, "").strip()
        if host:
            break
    else:
        return DEFAULT_HOST, "LANGFUSE_BASE_URL"
    if "://" not in host:
        raise ConfigError(
            f"{variable} is {host!r}, which has no scheme: write the whole URL, e.g. https://{host.lstrip('/')}"
        )
    return host.rstrip("/"), variable


def timeout_from_env() -> float:
    """Return LANGFUSE_TIMEOUT in seconds (default 10)."""
    raw = os.environ.get("LANGFUSE_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise ConfigError(f"LANGFUSE_TIMEOUT must be a positive number of seconds, not {raw!r}")
    return value


def mask_key(public_key: str) -> str:
    """Return a public key shortened for display: `pk-lf-…1a2b`."""
    return f"{public_key[:6]}…{public_key[-4:]}" if len(public_key) > 10 else "…"


class LangfuseRegistry:
    """A Langfuse project as a promptops registry. `.client` is its own SDK client, reused for tracing."""

    name = "langfuse"

    def __init__(
        self,
        public_key: str,
        secret_key: str,
        host: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        sleep: Callable[[float], None] = time.sleep,
        redact_patterns: Sequence[str] = (),
        tracing: TracingConfig | None = None,
        host_variable: str = "LANGFUSE_BASE_URL",
        cache: SignedJson | None = None,
    ) -> None:
        from langfuse import Langfuse

        from promptops.tracing.langfuse import client_options, make_mask

        self.host = host
        self.public_key = public_key
        self.mask = make_mask(redact_patterns)
        # Explicit settings, not get_client(): the SDK keeps one set of settings per public key (REFERENCE §1.3).
        self.client = Langfuse(
            public_key=public_key,
            secret_key=secret_key,
            base_url=host,
            timeout=timeout,  # type: ignore[arg-type]
            mask=self.mask,  # personal data and secrets never leave the process
            **client_options(tracing or TracingConfig()),  # sampling and batching (config `tracing`)
        )
        _refuse_shared_settings(self.client, public_key, secret_key, host)
        self.calls = Caller(host, timeout, sleep)
        self.calls.host_variable = host_variable
        self.datasets = LangfuseDatasets(self.client, self.calls, self.mask, self.describe())
        self.listing = LangfuseListing(self.client, self.calls, cache)

    def describe(self) -> str:
        """Return e.g. `Langfuse at https://cloud.langfuse.com (project keys pk-lf-…1a2b)`; never the secret."""
        return f"Langfuse at {self.host} (project keys {mask_key(self.public_key)})"

    # -- prompts: reads ------------------------------------------------------------------------

    def list_prompts(self) -> list[PromptState]:
        """Return every prompt's state (registry/langfuse_listing.py: one listing, plus where production moved)."""
        return self.listing.states()

    def version_content(self, name: str, version: int, labels: Sequence[str]) -> PromptVersion:
        """Return a version for showing its content: from the cache when `labels` name its content, else read."""
        cached = self.listing.cached_version(name, version, labels)
        if cached is not None:
            return cached
        found = self.get_version(name, version=version)
        self.listing.remember_version(found)
        return found

    def _meta(self, name: str) -> Any | None:
        """Return the PromptMeta over all versions of `name` (one request), or None if it has none."""
        page = self.calls.call(
            f"listing {name}",
            lambda: self.client.api.prompts.list(name=name, limit=PAGE_LIMIT, request_options=NO_SDK_RETRIES),
        )
        return next((m for m in page.data if m.name == name), None)

    def get_version(self, name: str, *, version: int | None = None, label: str | None = None) -> PromptVersion:
        """Return one version by number or label (default: production)."""
        if version is not None and label is not None:
            raise RegistryError(f"ask for a version or a label of {name!r}, not both")
        label = label if version is not None or label else PRODUCTION
        found = self._fetch(name, version=version, label=None if version is not None else label)
        if found is None:
            raise self._not_found(name, version, label)
        return found

    def _fetch(self, name: str, *, version: int | None = None, label: str | None = None) -> PromptVersion | None:
        """Return the version, or None on 404. Uses api.prompts.get: get_prompt would cache and retry 404s."""
        from langfuse.api.core.api_error import ApiError

        try:
            prompt = self.calls.call(
                f"reading {name}",
                lambda: self.client.api.prompts.get(  # unresolved: references stay as stored, so hashes agree
                    quote(name, safe=""), version=version, label=label, resolve=False, request_options=NO_SDK_RETRIES
                ),
                passthrough=(404,),
            )
        except ApiError:  # only 404s get here; everything else became a RegistryError
            return None
        return to_version(prompt)

    def _not_found(self, name: str, version: int | None, label: str | None) -> PromptopsError:
        """Say precisely what is missing: the prompt, the version, or the label (one listing request)."""
        meta = self._meta(name)
        if meta is None:
            return PromptNotFound(f"prompt {name!r} is not in {self.describe()}")
        if version is not None:
            versions = sorted(meta.versions)
            return PromptNotFound(
                f"prompt {name!r} has no version {version} ({len(versions)} version(s), the newest is {versions[-1]})"
            )
        return LabelNotFound(
            f"no version of {name!r} carries the label {label!r} (its labels: {', '.join(sorted(meta.labels))})"
        )

    def all_labels(self, name: str) -> tuple[str, ...]:
        """Return the union of the labels on every version of the name, sorted (one listing request)."""
        meta = self._meta(name)
        if meta is None:
            raise PromptNotFound(f"prompt {name!r} is not in {self.describe()}")
        return tuple(sorted(meta.labels))

    def labelled_versions(self, name: str) -> list[PromptVersion]:
        """Return every version carrying a label other than `latest`, lowest first (listing + one get per label)."""
        wanted = [label for label in self.all_labels(name) if label != LATEST]
        with ThreadPoolExecutor(WORKERS) as pool:
            found = list(pool.map(lambda label: self._fetch(name, label=label), wanted))
        by_number = {v.version: v for v in found if v is not None}  # a label moved meanwhile: 404, skipped
        return [by_number[n] for n in sorted(by_number)]

    # -- prompts: writes -----------------------------------------------------------------------

    def create_version(
        self, rendered: RenderedPrompt, provenance: Provenance, *, labels: Sequence[str] = (), commit_message: str
    ) -> PromptVersion:
        """Create the next version with its content label; return the version holding that content if one does.

        Content is looked up again before every attempt, so a lost answer never becomes a second copy.
        """
        from langfuse.api.core.api_error import ApiError

        doing = f"creating a version of {rendered.name}"
        mark = content_label(rendered.content_hash)
        for attempt in range(MAX_ATTEMPTS):
            # Newest first, then the content: a version created between the two reads is then found by the
            # second, and one created after both gets another number than expected (see _keep_the_first_copy).
            newest = self._fetch(rendered.name, label=LATEST)
            existing = self._fetch(rendered.name, label=mark)
            if existing is not None:
                return existing  # a concurrent run made it, or our earlier attempt did and its answer was lost
            expected = (newest.version if newest else 0) + 1
            request = create_request(
                rendered, replace(provenance, expected_version=expected), [mark, *labels], commit_message
            )
            try:
                created = self.client.api.prompts.create(request=request, request_options=NO_SDK_RETRIES)
            except Exception as exc:  # classified below; anything that is not a request failure re-raises there
                failure = self.calls.failure(exc, doing)
                clash = isinstance(exc, ApiError) and status_of(exc) == 400 and "unique" in server_message(exc)
                if not (failure.retriable or clash) or attempt == MAX_ATTEMPTS - 1:
                    raise RegistryError(failure.message) from None
                self.calls.sleep(wait_for(failure, attempt))
                continue
            self.client.clear_prompt_cache()  # this process' get_prompt must not serve the old `latest`
            made = to_version(created)
            if made.version != expected:  # someone created a version between our re-read and our POST
                return self._keep_the_first_copy(made, provenance, expected, [mark, *labels])
            return made
        raise AssertionError("unreachable")

    def find_content(self, name: str, content_hash: str) -> PromptVersion | None:
        """Return the version that carries this content's label, or None (one request)."""
        return self._fetch(name, label=content_label(content_hash))

    def _keep_the_first_copy(
        self, made: PromptVersion, provenance: Provenance, expected: int, labels: Sequence[str]
    ) -> PromptVersion:
        """Delete the version just made if another run made the same content first (a race of two creates).

        Both runs re-read `latest` before POSTing, so this needs two POSTs within one round trip. Our copy
        records the number it expected, not the one it got, so left alone every later plan would take it for
        an edit outside promptops. It is deleted only while it is the newest version (deleting another would
        leave a gap in the numbers) and holds no label but the ones this create set.
        """
        name = made.name
        earlier = (self._fetch(name, version=n) for n in range(expected, made.version))
        first = next((v for v in earlier if _is_ours(v, provenance)), None)
        mine = self._fetch(name, version=made.version) if first is not None else None
        if first is None or mine is None or LATEST not in mine.labels or set(mine.labels) - {LATEST, *labels}:
            return made
        from langfuse.api.core.api_error import ApiError

        number = made.version  # always a number: a delete without one would remove every version of the name
        try:
            self.calls.call(
                f"deleting version {number} of {name}, a copy of version {first.version} made at the same moment",
                lambda: self.client.api.prompts.delete(
                    quote(name, safe=""), version=number, request_options=NO_SDK_RETRIES
                ),
                passthrough=(404,),
            )
        except ApiError:
            pass  # 404: a retry after a lost answer finds it gone already
        self.client.clear_prompt_cache()
        if labels:  # the create moved them onto the copy, and the delete took them away
            return self.set_labels(name, first.version, labels)
        return self.get_version(name, version=first.version)

    def set_labels(self, name: str, version: int, labels: Sequence[str]) -> PromptVersion:
        """Add labels to a version, moving each off any other version of the name (PATCH is idempotent)."""
        from langfuse.api.core.api_error import ApiError

        if LATEST in labels:
            raise RegistryError(f"{name}: {LATEST_IS_MANAGED}")
        try:
            updated = self.calls.call(
                f"moving labels {', '.join(labels)} of {name} to version {version}",
                lambda: self.client.api.prompt_version.update(
                    quote(name, safe=""), version, new_labels=list(labels), request_options=NO_SDK_RETRIES
                ),
                passthrough=(404,),
            )
        except ApiError:
            raise self._not_found(name, version, None) from None
        self.client.clear_prompt_cache()
        return to_version(updated)

    def promote(
        self, name: str, version: int, *, expect_production: int | None, labels: Sequence[str] = ()
    ) -> PromptVersion:
        """Move production, the next release-N and `labels` onto a version if production is on `expect_production`.

        Best effort, as Langfuse has no conditional update: the labels are read first, then production is
        checked, then one PATCH moves them all, then production is read again. Reading the labels before the
        check means a run that still sees the old production numbered its release from labels no promotion had
        changed yet. Left open: two runs that both pass the check before either PATCHes; the later PATCH takes
        production and the release label, and the earlier run learns it (ConcurrentChange) from its re-read,
        unless that re-read also came before the later PATCH.
        """
        all_labels = self.all_labels(name)
        current = self._production(name)
        if current != expect_production:
            raise ConcurrentChange(production_moved(name, expect_production, current))
        promoted = self.set_labels(name, version, [PRODUCTION, next_release(all_labels), *labels])
        after = self._production(name)
        if after != version:
            raise ConcurrentChange(production_moved(name, version, after))
        return promoted

    def _production(self, name: str) -> int | None:
        """Return the version holding production now, or None."""
        found = self._fetch(name, label=PRODUCTION)
        return found.version if found else None

    # -- datasets (promptops/registry/langfuse_datasets.py) ----------------------------------------

    def sync_dataset(self, dataset: DatasetSpec, *, dry_run: bool = False) -> DatasetSyncResult:
        """Create or update the dataset, upsert changed items by id, archive items no longer in git."""
        return self.datasets.sync(dataset, dry_run=dry_run)

    def dataset_items(self, name: str) -> list[RemoteItem]:
        """Return the active items of a dataset."""
        return self.datasets.items(name)

    def list_datasets(self) -> list[DatasetInfo]:
        """Return every dataset's name, description and metadata, by name."""
        return self.datasets.listing()

    def close(self) -> None:
        """Flush what the SDK buffered (traces, scores) and the state cache; the client stays usable."""
        self.listing.flush()
        self.client.flush()


def _refuse_shared_settings(client: Any, public_key: str, secret_key: str, host: str) -> None:
    """Fail loudly when an earlier client with this public key in this process has another host or secret.

    The SDK would silently reuse the first client's settings (REFERENCE §1.3) and talk to the wrong place.
    """
    resources = getattr(client, "_resources", None)
    existing = str(getattr(resources, "base_url", host)).rstrip("/")
    if existing != host or getattr(resources, "secret_key", secret_key) != secret_key:
        raise RegistryError(
            f"this process already uses Langfuse key {mask_key(public_key)} with {existing} and its secret key; "
            f"the SDK keeps one set of settings per public key, so it cannot also use {host} or another secret"
        )


def _is_ours(version: PromptVersion | None, provenance: Provenance) -> bool:
    if version is None or not version.made_by_promptops:
        return False
    found = version.provenance
    return found is not None and found.content_hash == provenance.content_hash
