"""Name, label and message rules the server's zod schemas enforce on create (REFERENCE §2.2-§2.4)."""

from __future__ import annotations

import re
from typing import Any

from tests.langfuse_double.errors import JSON, issue, regex_mismatch, too_big_string, too_small_string

Path = list[str | int]
Issues = list[dict[str, JSON]]

HTML_TAG = re.compile(r"<[^<>]*>")
RESERVED_PROMPT_NAMES = ("new", "metrics", "prompt-detail")
LABEL_PATTERN = r"^[a-z0-9_\-.]+$"
LABEL_MESSAGE = "Label must be lowercase alphanumeric with optional underscores, hyphens, or periods"
LABEL_MAX_LENGTH = 36
COMMIT_MESSAGE_MAX_LENGTH = 500
PLACEHOLDER_PATTERN = r"^[a-zA-Z][a-zA-Z0-9_]*$"
PLACEHOLDER_MESSAGE = (
    "Placeholder name must start with a letter and contain only alphanumeric characters and underscores"
)
# (JS source, Python pattern, message): the folder-path regexes. Python's `.` also stops at newlines,
# so these agree with the JS ones; `fullmatch` stands in for JS's end-anchored `$`.
_SLASH_RULES = (
    ("^[^/]", r"[^/]", "Name cannot start with a slash"),
    ("^(?!.*\\/\\/)", r"(?!.*//)", "Name cannot contain consecutive slashes"),
    ("^.*[^/]$", r".*[^/]", "Name cannot end with a slash"),
)


def check_entity_name(value: str, path: Path, *, prompt: bool) -> tuple[str, Issues]:
    """Validate a prompt (prompt=True) or dataset name; return the trimmed name and the issues.

    Zod runs every string check (they are continuable) but stops before the trim transform when
    any failed, which is why the post-trim checks only run on an otherwise valid name.
    """
    issues: Issues = []
    if len(value) < 1:
        issues.append(too_small_string(path, 1, "Text cannot be empty"))
    if HTML_TAG.search(value):
        issues.append(issue("custom", path, "Text cannot contain HTML tags"))
    if prompt and "|" in value:
        issues.append(regex_mismatch(path, "^[^|]*$", "Prompt name cannot contain '|' character"))
    for js_source, pattern, message in _SLASH_RULES:
        matcher = re.fullmatch if pattern.startswith(".*") else re.match
        if not matcher(pattern, value):
            issues.append(regex_mismatch(path, js_source, message))
    if issues:
        return value, issues
    trimmed = value.strip()
    if not trimmed:
        issues.append(issue("custom", path, "Name cannot be empty"))
    if prompt and trimmed in RESERVED_PROMPT_NAMES:
        issues.append(issue("custom", path, f"Prompt name cannot be '{trimmed}'"))
    return trimmed, issues


def check_labels(labels: list[str], path: Path) -> Issues:
    """Validate create-time labels: 1..36 chars of [a-z0-9_-.]."""
    issues: Issues = []
    for index, label in enumerate(labels):
        where: Path = [*path, index]
        if len(label) < 1:
            issues.append(too_small_string(where, 1))
        if len(label) > LABEL_MAX_LENGTH:
            issues.append(too_big_string(where, LABEL_MAX_LENGTH))
        if not re.match(LABEL_PATTERN, label):
            issues.append(regex_mismatch(where, LABEL_PATTERN, LABEL_MESSAGE))
    return issues


def check_commit_message(message: str | None) -> Issues:
    """Validate the optional commit message (≤ 500 chars)."""
    if message is not None and len(message) > COMMIT_MESSAGE_MAX_LENGTH:
        return [too_big_string(["commitMessage"], COMMIT_MESSAGE_MAX_LENGTH)]
    return []


def normalise_chat_messages(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Issues]:
    """Strip chat messages to what the server stores, validating placeholder names.

    The server's zod objects drop unknown keys, so `{"type": "chatmessage", "role", "content"}` is
    stored as `{"role", "content"}` and placeholders as `{"type": "placeholder", "name"}`.
    """
    stored: list[dict[str, Any]] = []
    issues: Issues = []
    for index, message in enumerate(messages):
        if "role" in message and "content" in message:
            stored.append({"role": message["role"], "content": message["content"]})
            continue
        if message.get("type") != "placeholder":
            issues.append(issue("invalid_union", ["prompt", index], "Invalid input"))
            continue
        name = str(message.get("name", ""))
        if not re.match(PLACEHOLDER_PATTERN, name):
            issues.append(regex_mismatch(["prompt", index, "name"], PLACEHOLDER_PATTERN, PLACEHOLDER_MESSAGE))
        stored.append({"type": "placeholder", "name": name})
    return stored, issues


def _is_variable_name(name: str) -> bool:
    # Python's re has no \p{L}; str.isalpha/isalnum cover the same Unicode letter/number classes.
    return bool(name) and name[0].isalpha() and all(ch.isalnum() or ch == "_" for ch in name)


def variable_placeholder_clashes(messages: list[dict[str, Any]]) -> list[str]:
    """Return names used both as a {{variable}} and as a placeholder, in first-use order."""
    placeholders = {m["name"] for m in messages if m.get("type") == "placeholder"}
    clashes: list[str] = []
    for message in messages:
        content = message.get("content")
        if not isinstance(content, str):
            continue
        for name in re.findall(r"{{([^{}]*)}}", content):
            if _is_variable_name(name) and name in placeholders and name not in clashes:
                clashes.append(name)
    return clashes
