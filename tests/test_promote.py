"""Promotion effects: an interrupted experiment decides nothing, so the version stays pending."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptops import api, promote
from promptops.api.planning import plans_for
from promptops.errors import Interrupted
from promptops.model import DatasetSpec, PromptSpec
from promptops.publish import Origin
from promptops.registry.labels import content_label
from promptops.registry.local import open_local
from promptops.results import ExperimentResult, ItemResult
from promptops.runner import Subject
from tests.helpers import git_init, make_project


def interrupted(subject: Subject, dataset: DatasetSpec, spec: PromptSpec) -> ExperimentResult:
    """A run the user stopped after one item, as the runner reports it."""
    items = tuple(
        ItemResult(
            item.id,
            0,
            item.input,
            item.expected_output,
            "x" if i == 0 else None,
            None if i == 0 else "not run: interrupted",
        )
        for i, item in enumerate(dataset.items)
    )
    return ExperimentResult(
        spec.name,
        subject.description,
        subject.version,
        dataset.name,
        "mock-llm-v1",
        0,
        items,
        {},
        "run-1",
        stopped="interrupted",
    )


def test_an_interrupted_run_neither_promotes_nor_rejects(tmp_path: Path) -> None:
    root = make_project(tmp_path / "repo", examples=True)
    git_init(root)
    settings = api.load_settings(root, registry="local")
    project = api.valid_project(settings)
    registry = open_local(root, settings.config)
    (first,) = plans_for(project, api.rendered_prompts(project, ["capital-cities"]), registry)
    with pytest.raises(Interrupted) as caught:
        promote.sync_prompt(project, registry, first, interrupted, lambda name: Origin(None))
    assert str(caught.value) == (
        "interrupted during the experiment of capital-cities (version 1 (candidate)) after 1 of 10 items: "
        "nothing was promoted or rejected; run again to judge it"
    )
    (state,) = registry.list_prompts()
    mark = content_label(api.rendered_prompts(project, ["capital-cities"])[0].content_hash)
    assert (state.versions, state.labels, state.production_version) == ((1,), (mark, "latest"), None)
    (again,) = plans_for(project, api.rendered_prompts(project, ["capital-cities"]), registry)
    assert (again.status, again.candidate) == ("pending", 1)
