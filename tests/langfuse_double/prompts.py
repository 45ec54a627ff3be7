"""Prompt versions and their rules: numbering, labels, tags, composition (REFERENCE §2)."""

from __future__ import annotations

import copy
import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.langfuse_double import clock
from tests.langfuse_double.composition import Dependency, ResolutionError, parse_dependency_tags, resolve
from tests.langfuse_double.errors import conflict, invalid_request, invalid_request_data, issue, not_found
from tests.langfuse_double.names import (
    check_commit_message,
    check_entity_name,
    check_labels,
    normalise_chat_messages,
    variable_placeholder_clashes,
)

LATEST = "latest"
PRODUCTION = "production"


@dataclass
class PromptVersion:
    """One stored row of the `prompts` table."""

    id: str
    name: str
    version: int
    type: str
    prompt: Any
    config: Any
    labels: list[str]
    tags: list[str]
    commit_message: str | None
    created_by: str
    project_id: str
    created_at: datetime
    updated_at: datetime
    dependencies: list[Dependency] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        """Return the raw row as POST and PATCH answer it (`isActive` is never set by the API)."""
        return {
            "id": self.id,
            "createdAt": clock.iso(self.created_at),
            "updatedAt": clock.iso(self.updated_at),
            "projectId": self.project_id,
            "createdBy": self.created_by,
            "prompt": copy.deepcopy(self.prompt),
            "name": self.name,
            "version": self.version,
            "type": self.type,
            "isActive": None,
            "config": copy.deepcopy(self.config),
            "tags": list(self.tags),
            "labels": list(self.labels),
            "commitMessage": self.commit_message,
        }


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


class PromptRegistry:
    """All prompt versions of one project. Not thread-safe: the Store serialises access."""

    def __init__(self, project_id: str) -> None:
        self.project_id = project_id
        self._versions: list[PromptVersion] = []

    # -- reads -------------------------------------------------------------------------------

    def versions_of(self, name: str) -> list[PromptVersion]:
        """Return the versions of `name`, lowest first."""
        return sorted((v for v in self._versions if v.name == name), key=lambda v: v.version)

    def names(self) -> list[str]:
        """Return every prompt name, sorted."""
        return sorted({v.name for v in self._versions})

    def find(self, name: str, version: int | float | None = None, label: str | None = None) -> PromptVersion | None:
        """Find the version with that number, or the one carrying that label."""
        for candidate in self._versions:
            if candidate.name != name:
                continue
            if version is not None and candidate.version == version:
                return candidate
            if version is None and label is not None and label in candidate.labels:
                return candidate
        return None

    def get(self, name: str, version: int | None, label: str | None, resolve_tags: bool) -> dict[str, Any]:
        """Answer GET /v2/prompts/{name}: default label production, resolved unless resolve=false."""
        if version and label:
            raise invalid_request("Cannot specify both version and label")
        wanted_label = None if version else (label or PRODUCTION)
        found = self.find(name, version or None, wanted_label)
        if found is None:
            where = f"version {version}" if version else f"label '{wanted_label}'"
            raise not_found(f"Prompt not found: '{name}' with {where}")
        row = found.row()
        row["resolutionGraph"] = None
        row["isActive"] = PRODUCTION in found.labels
        if resolve_tags:
            try:
                row["prompt"], row["resolutionGraph"] = resolve(found, self._find_dependency)
            except ResolutionError as error:
                raise conflict(str(error)) from error
        return row

    def _find_dependency(self, dependency: Dependency) -> PromptVersion | None:
        return self.find(dependency.name, dependency.version, dependency.label)

    # -- create --------------------------------------------------------------------------------

    def create(self, body: dict[str, Any], created_by: str) -> PromptVersion:
        """Create the next version from a contract-valid create body (POST /v2/prompts)."""
        name, prompt_type, content, labels = self._validated_fields(body)
        history = self.versions_of(name)
        newest = history[-1] if history else None
        if newest is not None and newest.type != prompt_type:
            raise invalid_request(
                "Previous versions have different prompt type. Create a new prompt with a different name."
            )
        if prompt_type == "chat":
            clashes = variable_placeholder_clashes(content)
            if clashes:
                raise invalid_request(
                    "Cannot create prompt, variables and placeholders must be unique, "
                    f"the following are not: {', '.join(clashes)}"
                )
        moment = clock.now()
        created = PromptVersion(
            id=str(uuid.uuid4()),
            name=name,
            version=newest.version + 1 if newest else 1,
            type=prompt_type,
            prompt=content,
            config={} if body.get("config") is None else copy.deepcopy(body["config"]),
            labels=labels,
            tags=[],
            commit_message=body.get("commitMessage"),
            created_by=created_by,
            project_id=self.project_id,
            created_at=moment,
            updated_at=moment,
            dependencies=parse_dependency_tags(content),
        )
        self._check_resolvable(created)
        created.labels = _unique([*labels, LATEST])
        self._versions.append(created)
        self._remove_labels_elsewhere(created, created.labels, moment)
        tags = body.get("tags")
        new_tags = _unique(tags) if tags is not None else list(newest.tags if newest else [])
        created.tags = new_tags
        if newest is not None and sorted(set(new_tags)) != sorted(set(newest.tags)):
            self._retag(name, new_tags, moment)
        return created

    def _validated_fields(self, body: dict[str, Any]) -> tuple[str, str, Any, list[str]]:
        name, issues = check_entity_name(body["name"], ["name"], prompt=True)
        labels = list(body.get("labels") or [])
        if "labels" in body and body["labels"] is None:
            # The contract marks labels nullable, but the server's zod `.default([])` only covers omission.
            issues.append(
                issue("invalid_type", ["labels"], "Invalid input: expected array, received null", expected="array")
            )
        issues += check_labels(labels, ["labels"])
        issues += check_commit_message(body.get("commitMessage"))
        prompt_type = body.get("type") or "text"
        content = body["prompt"]
        if prompt_type == "chat":
            content, message_issues = normalise_chat_messages(content)
            issues += message_issues
        if issues:
            raise invalid_request_data(issues)
        return name, prompt_type, content, labels

    def _check_resolvable(self, created: PromptVersion) -> None:
        try:
            resolve(created, self._find_dependency, created.dependencies)
        except ResolutionError as error:
            raise invalid_request(str(error)) from error

    def _retag(self, name: str, tags: list[str], moment: datetime) -> None:
        for version in self.versions_of(name):
            if version.tags != tags:
                version.tags = list(tags)
                version.updated_at = moment

    def _remove_labels_elsewhere(self, keeper: PromptVersion, labels: list[str], moment: datetime) -> None:
        for other in self.versions_of(keeper.name):
            if other is keeper or not set(labels) & set(other.labels):
                continue
            other.labels = [label for label in other.labels if label not in labels]
            other.updated_at = moment

    # -- label edits ---------------------------------------------------------------------------

    def add_labels(self, name: str, version: int, new_labels: list[str]) -> PromptVersion:
        """PATCH …/versions/{v}: union the labels in, moving each off every other version."""
        target = self.find(name, version)
        if target is None:
            raise not_found(f"Prompt '{name}' version {version} not found in project")
        moment = clock.now()
        merged = _unique([*target.labels, *new_labels])
        if merged != target.labels:
            target.labels = merged
            target.updated_at = moment
        self._remove_labels_elsewhere(target, new_labels, moment)
        return target

    def set_labels(self, name: str, version: int, labels: list[str]) -> PromptVersion:
        """Replace a version's labels exactly, as the web UI can (it may also remove labels)."""
        target = self.find(name, version)
        if target is None:
            raise not_found(f"Prompt '{name}' version {version} not found in project")
        moment = clock.now()
        target.labels = _unique(labels)
        target.updated_at = moment
        self._remove_labels_elsewhere(target, target.labels, moment)
        return target

    # -- delete --------------------------------------------------------------------------------

    def delete(self, name: str, version: int | None, label: str | None) -> None:
        """DELETE /v2/prompts/{name}: all versions, one version, or the versions carrying a label."""
        if version and label:
            raise invalid_request("Cannot specify both version and label")
        history = self.versions_of(name)
        if version:
            doomed = [v for v in history if v.version == version]
        elif label:
            doomed = [v for v in history if label in v.labels]
        else:
            doomed = history
        if not doomed:
            raise not_found("Prompt not found")
        remaining = [v for v in history if v not in doomed]
        self._refuse_breaking_dependents(name, doomed, remaining)
        if any(LATEST in v.labels for v in doomed) and remaining and not any(LATEST in v.labels for v in remaining):
            highest = remaining[-1]
            highest.labels = _unique([*highest.labels, LATEST])
            highest.updated_at = clock.now()
        self._versions = [v for v in self._versions if v not in doomed]

    def _refuse_breaking_dependents(
        self, name: str, doomed: list[PromptVersion], remaining: list[PromptVersion]
    ) -> None:
        doomed_numbers = {v.version for v in doomed}
        surviving_labels = {label for v in remaining for label in v.labels}
        messages = []
        for parent in self._versions:
            for dep in parent.dependencies:
                if dep.name != name:
                    continue
                breaks = dep.version in doomed_numbers if dep.version is not None else dep.label not in surviving_labels
                if breaks:
                    child = f"v{dep.version}" if dep.version is not None else dep.label
                    messages.append(f"{parent.name} v{parent.version} depends on {name} {child}")
        if messages:
            raise invalid_request(
                "Other prompts are depending on prompt versions you are trying to delete:\n\n"
                + "\n".join(messages)
                + "\n\nPlease delete the dependent prompts first."
            )

    # -- list ----------------------------------------------------------------------------------

    def list_meta(self, filters: dict[str, Any], page: int, limit: int) -> dict[str, Any]:
        """GET /v2/prompts: one PromptMeta per name over the versions matching the filters."""
        matching = [v for v in self._versions if _matches(v, filters)]
        names = sorted({v.name for v in matching})
        window = names[(page - 1) * limit : page * limit]
        data = [_meta([v for v in matching if v.name == n]) for n in window]
        meta = {"page": page, "limit": limit, "totalItems": len(names), "totalPages": math.ceil(len(names) / limit)}
        return {"data": data, "meta": meta, "pagination": dict(meta)}


def _matches(version: PromptVersion, filters: dict[str, Any]) -> bool:
    checks = (
        filters.get("name") is None or version.name == filters["name"],
        filters.get("label") is None or filters["label"] in version.labels,
        filters.get("tag") is None or filters["tag"] in version.tags,
        filters.get("version") is None or version.version == filters["version"],
        filters.get("fromUpdatedAt") is None or version.updated_at >= filters["fromUpdatedAt"],
        filters.get("toUpdatedAt") is None or version.updated_at < filters["toUpdatedAt"],
    )
    return all(checks)


def _meta(versions: list[PromptVersion]) -> dict[str, Any]:
    highest = max(versions, key=lambda v: v.version)
    return {
        "name": highest.name,
        "type": highest.type,
        "versions": sorted({v.version for v in versions}),
        "labels": sorted({label for v in versions for label in v.labels}),
        "tags": list(highest.tags),
        "lastUpdatedAt": clock.iso(max(v.updated_at for v in versions)),
        "lastConfig": copy.deepcopy(highest.config),
    }
