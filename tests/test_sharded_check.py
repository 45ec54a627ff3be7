"""Sharded `check` and `experiment` on real git repositories: N shards joined give the unsharded verdict and report,
and shards that are not one run (missing, twice, another prompt version, another dataset) fail the join, named.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from promptops.errors import EXIT_USAGE
from promptops.tracing.local import LocalTracer
from tests.helpers import Run, git, git_init, make_project, run_cli

WORSE = "  Answer in JSON.\n"
BETTER = "  Answer with only the city name.\n"
QUESTION = "  Question: What is the capital of {{ country }}?\n"
PROMPT = "prompts/capital-cities.yaml"
DATASET = "prompts/datasets/capital-cities-tutorial.yaml"
NEW_ITEM = """\
  - id: chile
    input: {country: Chile}
    expected_output: Santiago
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example prompts on main (capital-cities asking for only the city, 2 repeats); a branch `pr` regresses it."""
    for key in ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "GITHUB_STEP_SUMMARY", "GITHUB_RUN_ID"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("PROMPTOPS_RUN_KEY", raising=False)
    root = make_project(tmp_path / "repo", examples=True)
    prompt = root / PROMPT
    text = prompt.read_text("utf-8").replace("  seed: 42\n", "  seed: 42\n  repeats: 2\n")
    prompt.write_text(text.replace(QUESTION, BETTER + QUESTION), "utf-8")
    git_init(root)
    git(root, "checkout", "-qb", "pr")
    edit(root, PROMPT, BETTER, WORSE, "Answer in JSON")
    monkeypatch.chdir(root)
    return root


def edit(root: Path, rel: str, old: str, new: str, message: str) -> None:
    path = root / rel
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), "utf-8")
    git(root, "commit", "-qam", message)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    result = run_cli(capsys, *args)
    assert "Traceback" not in result.err and "internal error" not in result.err, result.err
    return result


def unsharded(capsys: pytest.CaptureFixture[str], root: Path) -> tuple[int, str, dict[str, Any]]:
    """Return the exit code, report and JSON of a plain `check`."""
    result = cli(capsys, "check", "--base", "main", "--report", str(root.parent / "plain.md"), "--format", "json")
    return result.code, (root.parent / "plain.md").read_text("utf-8"), json.loads(result.out)


def shards(capsys: pytest.CaptureFixture[str], folder: Path, count: int, *extra: str) -> list[Path]:
    """Run the `count` shards of the check, one results file each in `folder`; return the files."""
    paths = []
    for index in range(1, count + 1):
        path = folder / f"shard-{index}.jsonl"
        result = cli(capsys, "check", "--base", "main", "--shard", f"{index}/{count}", "--results", str(path), *extra)
        assert result.code == (1 if count == 1 else 0), result.err  # a whole 1/1 run judges; a partial one cannot
        paths.append(path)
    return paths


def pair_lines(path: Path) -> list[dict[str, Any]]:
    return [line for line in map(json.loads, path.read_text("utf-8").splitlines()) if line["kind"] == "pair"]


def run_record(path: Path, subject: str = "this branch") -> dict[str, Any]:
    runs = [line for line in map(json.loads, path.read_text("utf-8").splitlines()) if line["kind"] == "run"]
    found: dict[str, Any] = next(r for r in runs if r["subject"] == subject)
    return found


def short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


@pytest.mark.parametrize("count", [1, 3, 7])
def test_joined_shards_give_the_unsharded_verdict_and_report(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, count: int
) -> None:
    code, report, data = unsharded(capsys, repo)
    assert code == 1 and data["prompts"][0]["verdict"]["passed"] is False
    assert "<details><summary>20 items got worse on exact_match</summary>" in report

    files = shards(capsys, tmp_path / "shards", count)
    # Every planned pair (10 items x 2 repeats, for the candidate and the baseline) is in exactly one shard.
    pairs = [(p["run"], p["item"], p["repeat"]) for path in files for p in pair_lines(path)]
    assert len(pairs) == len(set(pairs)) == 2 * 10 * 2

    joined = cli(capsys, "check", "--base", "main", "--from", str(tmp_path / "shards"), "--report", "joined.md")
    assert joined.code == 1
    # Byte for byte, latencies included: the mock's latency is simulated, so an unsharded run has no timing field
    # that differs from run to run (a real model's latency rows would, measured as they are).
    assert (repo / "joined.md").read_text("utf-8") == report
    as_json = cli(capsys, "check", "--base", "main", *(f"--from={p}" for p in files), "--format", "json")
    assert (as_json.code, json.loads(as_json.out)) == (1, data)
    assert f"joined {count} results file(s) of run key commit-" in as_json.err


def test_a_shard_says_what_it_wrote_and_judges_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "s.jsonl"
    result = cli(capsys, "check", "--base", "main", "--shard", "2/3", "--results", str(path))
    planned = len(pair_lines(path)) // 2
    head = git(repo, "rev-parse", "HEAD").strip()[:12]
    assert result.code == 0
    assert result.out.splitlines() == [
        f"shard 2/3: results in {path}:",
        f"  capital-cities · this branch: {planned} pairs ({planned} run now, 0 kept from before, 0 failed)",
        f"  capital-cities · base ref: {planned} pairs ({planned} run now, 0 kept from before, 0 failed)",
        "join the 3 shards: promptops check --from FOLDER (or --from FILE, once per shard)",
    ]
    assert run_record(path)["run_name"] == f"capital-cities - this branch - commit-{head}"
    again = cli(capsys, "check", "--base", "main", "--shard", "2/3", "--results", str(path), "--format", "json")
    data = json.loads(again.out)
    assert (data["shard"], data["results"], data["diagnostics"]) == ("2/3", str(path), [])
    assert data["runs"][0] == {
        "prompt": "capital-cities", "subject": "this branch", "planned": planned, "kept": planned, "ran": 0,
        "failed": 0, "stopped": None,
    }  # fmt: skip


def test_shard_options_that_do_not_go_together_are_usage_errors(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with_report = cli(capsys, "check", "--base", "main", "--shard", "1/2", "--report", "r.md")
    assert (with_report.code, with_report.err.splitlines()[-1]) == (
        EXIT_USAGE,
        "Error: a shard has no verdict and no report: join the shards with `check --from`",
    )
    (tmp_path / "x.jsonl").write_text("", "utf-8")
    both = cli(capsys, "check", "--base", "main", "--shard", "1/2", "--from", str(tmp_path / "x.jsonl"))
    assert (both.code, both.err.splitlines()[-1]) == (
        EXIT_USAGE,
        "Error: --from joins finished shards: give it without --shard and --results",
    )
    bad = cli(capsys, "check", "--shard", "3/2")
    assert bad.code == EXIT_USAGE and "shard 3/2: the index must be between 1 and 2" in bad.err


def test_the_sharded_experiment_gives_the_unsharded_result(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def comparable(out: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(out)
        return {k: v for k, v in data.items() if k != "run_id"}  # a run's own id, the shards' derived one

    plain = cli(capsys, "experiment", "capital-cities", "--json")
    for index in (1, 2, 3):
        result = cli(
            capsys, "experiment", "capital-cities", "--shard", f"{index}/3", "--results", f"{tmp_path}/{index}.jsonl"
        )
        assert result.code == 0
    joined = cli(capsys, "experiment", "capital-cities", "--from", str(tmp_path), "--json")
    assert joined.code == plain.code == 0
    assert comparable(joined.out) == comparable(plain.out)
    run_id = run_record(tmp_path / "1.jsonl", "working tree")["run_id"]
    assert json.loads(joined.out)["run_id"] == run_id
    # The local trace store holds the one run the three shards made, with every pair in plan order, and the join's
    # totals; the shards' own totals (of a third of the items each) were never written.
    runs = LocalTracer(repo / ".promptops" / "runs.db")
    try:
        (stored,) = [r for r in runs.runs("capital-cities") if r.id == run_id]
        assert stored.metrics is not None and stored.metrics["exact_match"]["n"] == 20
        assert [(i.item_id, i.repeat, i.position) for i in runs.items(run_id)] == [
            (i["id"], i["repeat"], n) for n, i in enumerate(json.loads(plain.out)["items"])
        ]
    finally:
        runs.close()


def test_a_resumed_check_runs_only_the_failed_and_missing_pairs(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, report, _ = unsharded(capsys, repo)
    path = tmp_path / "whole.jsonl"
    assert cli(capsys, "check", "--base", "main", "--results", str(path)).code == code == 1
    kept = path.read_text("utf-8").splitlines(keepends=True)
    pairs = [n for n, line in enumerate(kept) if '"kind":"pair"' in line]
    failed = json.loads(kept[pairs[0]]) | {"output": None, "scores": [], "error": "model error: rate limited"}
    kept[pairs[0]] = json.dumps(failed) + "\n"
    # As a killed run leaves it: the base ref's run never ended, three of its pairs never finished.
    path.write_text("".join(line for n, line in enumerate(kept) if n not in pairs[-3:] and n != len(kept) - 1))
    again = cli(capsys, "check", "--base", "main", "--results", str(path), "--report", "again.md")
    assert again.code == 1
    assert again.err.splitlines()[-3:] == [
        f"results in {path}:",
        "  capital-cities · this branch: 20 pairs (1 run now, 19 kept from before, 0 failed)",
        "  capital-cities · base ref: 20 pairs (3 run now, 17 kept from before, 0 failed)",
    ]
    assert (repo / "again.md").read_text("utf-8") == report


# -- shards that are not one run ------------------------------------------------------------------------------------


def three_shards(capsys: pytest.CaptureFixture[str], folder: Path) -> list[Path]:
    return shards(capsys, folder, 3, "--run-key", "pr-7")


def join_fails(capsys: pytest.CaptureFixture[str], files: list[Path], message: str) -> None:
    """Assert that both `merge` and `check --from` refuse these files with `message`."""
    merged = cli(capsys, "merge", *map(str, files))
    assert (merged.code, merged.out, merged.err) == (1, "", f"error: {message}\n")
    checked = cli(capsys, "check", "--base", "main", *(f"--from={p}" for p in files))
    assert (checked.code, checked.err.splitlines()[-1]) == (1, f"error: {message}")


def test_a_missing_shard_fails_the_join(repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    one, _, three = three_shards(capsys, tmp_path)
    join_fails(
        capsys, [one, three],
        f"shard 2/3 is missing (given: 1/3 ({one}), 3/3 ({three})): every shard of the run must be joined",
    )  # fmt: skip


def test_a_duplicated_shard_fails_the_join(repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    one, two, three = three_shards(capsys, tmp_path)
    copy = tmp_path / "copy-of-2.jsonl"
    copy.write_bytes(two.read_bytes())
    join_fails(capsys, [one, two, copy, three], f"shard 2/3 is given twice: {two} and {copy}")


def test_a_shard_of_another_prompt_version_fails_the_join(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    one, two, _ = three_shards(capsys, tmp_path)
    edit(repo, PROMPT, WORSE, "  Answer politely.\n", "Ask for politeness instead")
    other = tmp_path / "other" / "shard-3.jsonl"
    assert (
        cli(capsys, "check", "--base", "main", "--shard", "3/3", "--results", str(other), "--run-key", "pr-7").code == 0
    )
    theirs, ours = short(run_record(other)["content_hash"]), short(run_record(one)["content_hash"])
    join_fails(
        capsys, [one, two, other],
        f"shard 3/3 ({other}) ran another prompt version of capital-cities (this branch): content {theirs}, "
        f"where shard 1/3 ({one}) ran content {ours}: the shards of one run must come from the same commit and "
        "registry state",
    )  # fmt: skip


def test_a_shard_with_another_dataset_fails_the_join(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    one, two, _ = three_shards(capsys, tmp_path)
    dataset = (repo / DATASET).read_text("utf-8")
    (repo / DATASET).write_text(dataset.rstrip("\n") + "\n" + NEW_ITEM, "utf-8")
    git(repo, "commit", "-qam", "Ask about Chile too")
    other = tmp_path / "other" / "shard-3.jsonl"
    assert (
        cli(capsys, "check", "--base", "main", "--shard", "3/3", "--results", str(other), "--run-key", "pr-7").code == 0
    )
    theirs, ours = run_record(other)["dataset_fingerprint"], run_record(one)["dataset_fingerprint"]
    join_fails(
        capsys, [one, two, other],
        f"shard 3/3 ({other}) ran capital-cities (this branch) on a different dataset: capital-cities-tutorial "
        f"{short(theirs)}, 11 items, where shard 1/3 ({one}) ran capital-cities-tutorial {short(ours)}, 10 items: "
        "the shards of one run must come from the same commit and registry state",
    )  # fmt: skip


def test_an_unfinished_shard_fails_the_join_and_says_how_to_finish_it(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    one, two, three = three_shards(capsys, tmp_path)
    lines = two.read_text("utf-8").splitlines(keepends=True)
    dropped = [json.loads(line) for line in lines if '"kind":"pair"' in line][:2]
    two.write_text("".join(line for line in lines if json.loads(line) not in dropped), "utf-8")
    names = ", ".join(p["item"] if p["repeat"] == 0 else f"{p['item']} repeat {p['repeat']}" for p in dropped)
    planned = len(pair_lines(two)) // 2 + 1  # both dropped pairs are of the candidate's run (it comes first)
    join_fails(
        capsys, [one, two, three],
        f"shard 2/3 ({two}) is incomplete: 2 of its {planned} pairs of capital-cities (this branch) have no result "
        f"({names}): run the shard again with --results {two} and it runs only those",
    )  # fmt: skip
    again = cli(capsys, "check", "--base", "main", "--shard", "2/3", "--results", str(two), "--run-key", "pr-7")
    assert f"  capital-cities · this branch: {planned} pairs (2 run now, {planned - 2} kept from before, 0 failed)" in (
        again.out.splitlines()
    )
    merged = cli(capsys, "merge", str(one), str(two), str(three), "-o", str(tmp_path / "joined.jsonl"))
    assert merged.out.splitlines() == [
        "3 shard(s) of one `check` run (run key pr-7):",
        "  capital-cities · this branch: 20 pairs, 0 failed",
        "  capital-cities · base ref: 20 pairs, 0 failed",
        f"wrote {tmp_path / 'joined.jsonl'}: judge it with `promptops check --from {tmp_path / 'joined.jsonl'}`",
    ]
    assert cli(capsys, "check", "--base", "main", "--from", str(tmp_path / "joined.jsonl")).code == 1
    as_json = json.loads(cli(capsys, "merge", str(tmp_path / "joined.jsonl"), "--json").out)
    assert (as_json["command"], as_json["run_key"], as_json["shards"]) == ("check", "pr-7", 1)
    assert [(r["subject"], r["pairs"], r["failed"], r["stopped"]) for r in as_json["runs"]] == [
        ("this branch", 20, 0, None),
        ("base ref", 20, 0, None),
    ]


def test_results_of_another_commit_fail_the_join_in_this_checkout(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    files = three_shards(capsys, tmp_path)
    before = short(run_record(files[0])["content_hash"])
    edit(repo, PROMPT, WORSE, "  Answer politely.\n", "Ask for politeness instead")
    result = cli(capsys, "check", "--base", "main", "--from", str(tmp_path))
    cli(capsys, "check", "--base", "main", "--results", str(tmp_path / "now" / "whole.jsonl"))
    now = short(run_record(tmp_path / "now" / "whole.jsonl")["content_hash"])
    assert (result.code, result.err.splitlines()[-1]) == (
        1,
        f"error: this checkout runs another prompt version of capital-cities (this branch): content {now}, where "
        f"the results ({', '.join(map(str, files))}) ran content {before}: they were made from another commit or "
        "registry state; run the shards again",
    )
