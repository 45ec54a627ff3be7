"""The evaluation fingerprint: everything besides the prompt that decides a gate verdict, as one hash.

A verdict holds for a prompt's content *and* the experiment it was judged on: the dataset's items and knowledge
base, the task, the model and its options, the evaluators, repeats, seed and the gate policy. The fingerprint is
recorded with every decision (registry/labels.py), so a change to any of these is visible to diff and status
and re-runs the judgement. Custom `module:function` code that lives in the repository counts by its file's
bytes: editing an evaluator changes the fingerprint as editing its options does. Run controls that do not change
what is measured (concurrency, timeouts, retries, the failure threshold) are left out. Pure: reads nothing but
the custom code files under the project root.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from promptops.files import regular_bytes
from promptops.model import DatasetSpec, EvaluatorSpec, GatePolicy, PromptSpec

NO_EXPERIMENT = "no experiment"


def fingerprint(spec: PromptSpec, dataset: DatasetSpec | None, root: Path) -> str:
    """Return the evaluation fingerprint of a prompt's experiment (`sha256:<hex>`)."""
    exp = spec.experiment
    if exp is None:
        body: Any = NO_EXPERIMENT
    else:
        body = {
            "dataset": _dataset(dataset),
            "task": exp.task,
            "retriever": exp.retriever,
            "model": exp.model,
            "model_options": dict(exp.model_options),
            "evaluators": [_evaluator(e) for e in exp.evaluators],
            "repeats": exp.repeats,
            "seed": exp.seed,
            "gate": _gate(spec.gate),
            "code": {ref: _code_digest(root, ref) for ref in sorted(set(_custom_code(spec)))},
        }
    return _digest(body)


def dataset_fingerprint(dataset: DatasetSpec) -> str:
    """Return the hash of the dataset's part of the fingerprint (items and knowledge base), `sha256:<hex>`.

    Results files carry it beside the whole fingerprint, so a shard run on other items is named as such.
    """
    return _digest(_dataset(dataset))


def _digest(body: Any) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _dataset(dataset: DatasetSpec | None) -> Any:
    if dataset is None:
        return None
    return {
        "name": dataset.name,
        "items": [
            {"id": i.id, "input": dict(i.input), "expected_output": i.expected_output, "metadata": dict(i.metadata)}
            for i in dataset.items
        ],
        "knowledge_base": [{"id": d.id, "text": d.text, "title": d.title} for d in dataset.knowledge_base],
    }


def _evaluator(e: EvaluatorSpec) -> dict[str, Any]:
    return {"name": e.name, "kind": e.kind, "options": dict(e.options)}


def _gate(policy: GatePolicy | None) -> Any:
    # Every field of the policy decides verdicts, including ones added later: take them all.
    return None if policy is None else asdict(policy)


def _custom_code(spec: PromptSpec) -> Iterator[str]:
    exp = spec.experiment
    assert exp is not None
    refs = [exp.task, exp.retriever or "", *(e.kind for e in exp.evaluators)]
    yield from (ref for ref in refs if ":" in ref)


def _code_digest(root: Path, ref: str) -> str | None:
    """Return the hash of the repository file that defines `module:function`, or None if it is not in the repo."""
    module = ref.partition(":")[0]
    base = root.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        try:
            inside = path.is_file() and path.resolve().is_relative_to(root.resolve())
        except (OSError, ValueError):
            return None
        data = regular_bytes(path) if inside else None  # bounded, never blocking: the PR may commit anything
        if data is not None:
            return hashlib.sha256(data).hexdigest()
    return None
