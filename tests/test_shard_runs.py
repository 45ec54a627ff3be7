"""Sharded runs for real: three shards' traces make one Langfuse experiment run (the double, through the SDK), and
a shard killed with SIGKILL mid-run resumes from its results file, running only what it had not finished.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import REPO_ROOT, git_init, make_project, run_cli
from tests.langfuse_double.server import LangfuseDouble

EXPERIMENT = "langfuse.experiment."


def lines(path: Path, kind: str) -> list[dict[str, Any]]:
    return [line for line in map(json.loads, path.read_text("utf-8").splitlines()) if line["kind"] == kind]


def test_three_shards_traces_share_one_experiment_id_and_run_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], langfuse_double: LangfuseDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in langfuse_double.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")  # the run key the matrix jobs of one workflow run share
    root = make_project(tmp_path / "repo", examples=True)
    git_init(root)
    monkeypatch.chdir(root)
    assert run_cli(capsys, "sync").code == 0  # the dataset is in Langfuse: the shards' items link to it
    spans_before, scores_before = len(langfuse_double.spans()), len(langfuse_double.scores())

    for index in (1, 2, 3):
        shard = run_cli(
            capsys, "experiment", "capital-cities", "--shard", f"{index}/3", "--results", f"{tmp_path}/{index}.jsonl"
        )
        assert shard.code == 0, shard.err
    runs = [lines(tmp_path / f"{index}.jsonl", "run")[0] for index in (1, 2, 3)]
    run_id, run_name = runs[0]["run_id"], runs[0]["run_name"]
    assert {(r["run_id"], r["run_name"]) for r in runs} == {(run_id, run_name)}
    assert run_name == "capital-cities - working tree (= version 1) - github-run-4242"

    roots = [s for s in langfuse_double.spans()[spans_before:] if s.name == "experiment-item"]
    assert len(roots) == 10  # one trace per pair, each pair in one shard
    assert Counter((s.attributes[EXPERIMENT + "id"], s.attributes[EXPERIMENT + "name"]) for s in roots) == {
        (run_id, run_name): 10
    }
    dataset_ids = {item["id"] for item in langfuse_double.dataset_items("capital-cities-tutorial")}
    assert {s.attributes[EXPERIMENT + "item.id"] for s in roots} == dataset_ids
    every = [s for s in langfuse_double.spans()[spans_before:] if EXPERIMENT + "id" in s.attributes]
    assert {s.attributes[EXPERIMENT + "id"] for s in every} == {run_id}  # the generations too
    # The shards leave the run's totals to the join: a shard's means would be those of a third of the items.
    assert [s for s in langfuse_double.scores()[scores_before:] if s.get("datasetRunId")] == []

    spans_joined = len(langfuse_double.spans())
    joined = run_cli(capsys, "experiment", "capital-cities", "--from", str(tmp_path), "--json")
    assert joined.code == 0, joined.err
    assert json.loads(joined.out)["run_id"] == run_id
    assert len(langfuse_double.spans()) == spans_joined  # the join runs nothing
    totals = {s["name"]: s["value"] for s in langfuse_double.scores() if s.get("datasetRunId") == run_id}
    assert set(totals) == {
        "mean_exact_match", "mean_mentions_capital", "mean_answer_length", "latency_p50", "latency_p95", "error_rate"
    }  # fmt: skip
    assert (totals["mean_exact_match"], totals["mean_mentions_capital"]) == (0.0, 1.0)
    assert len([s for s in langfuse_double.scores() if s.get("datasetRunId") == run_id]) == 6  # once each


# -- a killed shard resumes -----------------------------------------------------------------------------------------

COUNTRIES = [f"Country {n:03d}" for n in range(90)]
SLOW_PROMPT = """\
prompt: |
  Question: What is the capital of {{ country }}?
variables:
  country: {type: string}
experiment:
  dataset: many
  model: mock-llm-v1
  model_options: {latency_ms: 40}
  concurrency: 1
  evaluators:
    - type: char_length
      name: answer_length
"""


def slow_repo(root: Path) -> Path:
    items = "".join(f"  - id: c{n:03d}\n    input: {{country: '{c}'}}\n" for n, c in enumerate(COUNTRIES))
    make_project(root, {"prompts/slow.yaml": SLOW_PROMPT, "prompts/datasets/many.yaml": f"items:\n{items}"})
    git_init(root)
    return root


def test_a_killed_shard_resumes_and_runs_only_what_it_had_not_finished(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "GITHUB_RUN_ID", "PROMPTOPS_RUN_KEY"):
        monkeypatch.delenv(key, raising=False)
    root = slow_repo(tmp_path / "repo")
    results = tmp_path / "shard-2.jsonl"
    args = ["experiment", "slow", "--shard", "2/3", "--results", str(results)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "promptops", *args], cwd=root, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (results.exists() and len(lines(results, "pair")) >= 5):
            assert process.poll() is None, "the shard ended before it could be killed"
            assert time.monotonic() < deadline, "the shard wrote no results"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
    finished = {(p["item"], p["repeat"]): p for p in lines(results, "pair")}
    assert not lines(results, "end")  # killed mid-run: the run never ended
    planned = sum(1 for n in range(len(COUNTRIES)) if _owned(f"c{n:03d}"))
    assert 5 <= len(finished) < planned

    monkeypatch.chdir(root)
    resumed = run_cli(capsys, *args)
    assert resumed.code == 0, resumed.err
    assert resumed.out.splitlines()[1] == (
        f"  slow · working tree: {planned} pairs ({planned - len(finished)} run now, {len(finished)} kept from "
        "before, 0 failed)"
    )
    after = {(p["item"], p["repeat"]): p for p in lines(results, "pair")}
    assert len(after) == len(lines(results, "pair")) == planned  # every pair of the shard once
    assert {pair: after[pair] for pair in finished} == finished  # what had finished was kept as it was
    (end,) = lines(results, "end")
    assert (end["run"], end["stopped"]) == (lines(results, "run")[0]["run_id"], None)
    assert end["calls"]["live_calls"] == planned - len(finished)  # the model was asked only for what was missing


def _owned(item: str) -> bool:
    from promptops.shards import Shard

    return Shard(2, 3).owns(item, 0)


FAILING_PROMPT = """\
prompt: |
  Question: What is the capital of {{ country }}?
variables:
  country: {type: string}
experiment:
  dataset: many
  model: mock-llm-v1
  model_options: {failure_rate: 1.0}
  retries: 0
  concurrency: 1
  evaluators:
    - type: char_length
      name: answer_length
"""


def test_a_shard_that_stops_early_records_its_unrun_pairs_and_the_join_stops_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "GITHUB_RUN_ID", "PROMPTOPS_RUN_KEY"):
        monkeypatch.delenv(key, raising=False)
    items = "".join(f"  - id: c{n:03d}\n    input: {{country: 'Country {n}'}}\n" for n in range(40))
    root = make_project(
        tmp_path / "repo", {"prompts/slow.yaml": FAILING_PROMPT, "prompts/datasets/many.yaml": f"items:\n{items}"}
    )
    git_init(root)
    monkeypatch.chdir(root)
    for index in (1, 2):
        assert (
            run_cli(
                capsys, "experiment", "slow", "--shard", f"{index}/2", "--results", f"{tmp_path}/{index}.jsonl"
            ).code
            == 0
        )
    one = tmp_path / "1.jsonl"
    pairs = lines(one, "pair")
    reasons = Counter(p["error"].split(":")[0] for p in pairs)
    tried = len(pairs) // 2 + 1  # the first failure past max_failure_rate 0.5 of the shard's pairs stops it
    assert reasons == {"model error": tried, "not run": len(pairs) - tried}
    assert lines(one, "end")[0]["stopped"] == "failure threshold"
    joined = run_cli(
        capsys, "experiment", "slow", "--from", f"{tmp_path}/1.jsonl", "--from", f"{tmp_path}/2.jsonl", "--json"
    )
    data = json.loads(joined.out)
    assert (joined.code, data["stopped"], len(data["items"])) == (1, "failure threshold", 40)
