"""Load dataset files (YAML or JSONL) from prompts/datasets/."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

from promptops import files, printable
from promptops.model import DatasetItem, DatasetSpec, Diagnostic, KnowledgeDoc, ReadScope

MAX_ITEMS = 50_000  # items (or knowledge-base documents) in one dataset: each costs time in every run
_CONTENT_LINE = re.compile(r"^[ \t]*\S", re.MULTILINE)


def load_dataset(path: Path, root: Path, scope: ReadScope | None = None) -> tuple[DatasetSpec | None, list[Diagnostic]]:
    """Parse one dataset file; return the dataset (None when it has errors) and its diagnostics."""
    from promptops import schema, yamlfile  # only when a file is parsed: not in a run the cache answers

    read = files.read_text(path, root, scope=scope, max_bytes=files.MAX_DATASET_BYTES)
    if read.problem is not None or read.text is None:
        return None, [read.problem] if read.problem else []
    if path.suffix == ".jsonl":
        content = _CONTENT_LINE.finditer(read.text)  # counted lazily: a 60 MB file of tiny items costs no list
        if sum(1 for _ in itertools.islice(content, MAX_ITEMS + 1)) > MAX_ITEMS:
            return None, [_too_many(read.path, read.text.count("\n") + 1)]
        data, lines, diags = _jsonl(read.text, read.path)
        positions = {f"items.{i}": (line, 1) for i, line in enumerate(lines)}
    else:
        doc = yamlfile.load(read.text)
        diags = [Diagnostic(read.path, p.line, p.col, p.code, "error", p.message) for p in doc.problems]
        data, positions = doc.data, doc.positions
        if not diags and not isinstance(data, dict):
            diags.append(
                Diagnostic(read.path, 1, 1, "dataset-schema", "error", "the top level must be a mapping with `items:`")
            )
    if diags:
        return None, diags
    for key in ("items", "knowledge_base"):
        listed = data.get(key) if isinstance(data, dict) else None
        if isinstance(listed, list) and len(listed) > MAX_ITEMS:
            return None, [_too_many(read.path, len(listed))]
    for problem in schema.check("dataset", data):
        line, col = _nearest(positions, problem.path)
        diags.append(Diagnostic(read.path, line, col, "dataset-schema", "error", problem.message))
    seen: dict[str, int] = {}
    for index, item in enumerate(data.get("items", ())):
        item_id = item.get("id") if isinstance(item, dict) else None
        if not isinstance(item_id, str):
            continue
        line = positions.get(f"items.{index}", (None, None))[0]
        bad = printable.unsafe_char(item_id)
        if bad is not None:
            message = f"item id {printable.escaped(item_id)!r} must not contain {printable.describe(bad)}"
            diags.append(Diagnostic(read.path, line, None, "invalid-item-id", "error", message))
        if item_id in seen:
            diags.append(
                Diagnostic(
                    read.path,
                    line,
                    None,
                    "duplicate-item-id",
                    "error",
                    f"item id {item_id!r} is used again (first on line {seen[item_id]}): ids must be unique",
                )
            )
        else:
            seen[item_id] = line or 0
    if any(d.severity == "error" for d in diags):
        return None, diags
    return _build(path, read.path, data, positions), diags


def _too_many(rel: str, count: int) -> Diagnostic:
    message = f"the dataset has more than {MAX_ITEMS:,} entries ({count:,} lines or items): split it or sample it"
    return Diagnostic(rel, 1, 1, "dataset-too-large", "error", message)


def _jsonl(text: str, rel: str) -> tuple[dict[str, Any], list[int], list[Diagnostic]]:
    items, lines, diags = [], [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
            lines.append(number)
        except json.JSONDecodeError as exc:
            diags.append(Diagnostic(rel, number, exc.colno, "json-syntax", "error", f"invalid JSON: {exc.msg}"))
    return {"items": items}, lines, diags


def _nearest(positions: dict[str, tuple[int, int]], dotted: str) -> tuple[int | None, int | None]:
    parts = dotted.split(".") if dotted else []
    while parts:
        if ".".join(parts) in positions:
            return positions[".".join(parts)]
        parts.pop()
    return positions.get("", (1, 1))


def _build(path: Path, rel: str, data: dict[str, Any], positions: dict[str, tuple[int, int]]) -> DatasetSpec:
    items = tuple(
        DatasetItem(
            id=raw["id"],
            input=raw["input"],
            expected_output=raw.get("expected_output"),
            metadata=raw.get("metadata", {}),
            line=positions.get(f"items.{i}", (None, None))[0],
        )
        for i, raw in enumerate(data.get("items", ()))
    )
    docs = tuple(KnowledgeDoc(d["id"], d["text"], d.get("title", "")) for d in data.get("knowledge_base", ()))
    return DatasetSpec(path.stem, rel, data.get("description", ""), items, docs, data.get("metadata", {}))
