"""End to end on real git repositories: sync promotes, rejects and converges; rollback and history follow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import git, git_init, make_project, run_cli

BETTER = "  Answer with only the city name.\n"
WORSE = "  Answer in JSON.\n"


@pytest.fixture(params=["local", "langfuse"])
def repo(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A git repository with the example prompts, and the registry to sync it to."""
    root = make_project(tmp_path / "repo", examples=True)
    git_init(root)
    if request.param == "langfuse":
        double = request.getfixturevalue("langfuse_double")
        for key, value in double.env.items():
            monkeypatch.setenv(key, value)
    else:
        monkeypatch.delenv("LANGFUSE_PUBLIC_KEY", raising=False)
        monkeypatch.delenv("LANGFUSE_SECRET_KEY", raising=False)
    monkeypatch.chdir(root)
    return root, request.param


def edit_capital_cities(root: Path, extra_line: str, message: str) -> None:
    path = root / "prompts" / "capital-cities.yaml"
    text = path.read_text()
    marker = "  Question: What is the capital of {{ country }}?\n"
    base = text.replace(BETTER, "").replace(WORSE, "")
    path.write_text(base.replace(marker, extra_line + marker))
    git(root, "commit", "-qam", message)


def sync(capsys: pytest.CaptureFixture[str], registry: str) -> tuple[int, dict[str, dict[str, object]]]:
    result = run_cli(capsys, "--registry", registry, "sync", "--json")
    assert "Traceback" not in result.err
    rows = {row["name"]: row for row in json.loads(result.out)["prompts"]}
    return result.code, rows


def outcomes(rows: dict[str, dict[str, object]]) -> dict[str, tuple[object, object, object]]:
    return {name: (row["outcome"], row["version"], row["release"]) for name, row in rows.items()}


def history(capsys: pytest.CaptureFixture[str], registry: str, name: str) -> list[tuple[int, int, bool]]:
    result = run_cli(capsys, "--registry", registry, "history", name, "--json")
    assert result.code == 0, result.err
    return [(r["number"], r["version"], r["production"]) for r in json.loads(result.out)]


def test_the_whole_story(repo: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    root, registry = repo
    code, rows = sync(capsys, registry)
    assert code == 0
    assert outcomes(rows) == {
        "capital-cities": ("promoted", 1, "release-1"),
        "support-agent": ("promoted", 1, "release-1"),
    }
    assert rows["capital-cities"]["verdict"]["baseline_subject"] is None  # judged on its floors
    assert outcomes(sync(capsys, registry)[1]) == {
        "capital-cities": ("unchanged", 1, None),
        "support-agent": ("unchanged", 1, None),
    }

    edit_capital_cities(root, BETTER, "Ask for only the city name")
    code, rows = sync(capsys, registry)
    assert code == 0
    assert outcomes(rows)["capital-cities"] == ("promoted", 2, "release-2")
    metrics = {m["name"]: (m["baseline"], m["candidate"]) for m in rows["capital-cities"]["verdict"]["metrics"]}
    assert metrics["exact_match"] == (0.0, 1.0)
    assert outcomes(sync(capsys, registry)[1])["capital-cities"] == ("unchanged", 2, None)

    edit_capital_cities(root, WORSE, "Ask for JSON")
    code, rows = sync(capsys, registry)
    assert code == 1
    assert outcomes(rows)["capital-cities"] == ("rejected", 3, None)
    worse = rows["capital-cities"]["verdict"]["worse_items"]
    assert [w["item_id"] for w in worse][:3] == ["australia", "canada", "egypt"]
    assert worse[0]["candidate_output"] == '{"answer": "Canberra"}'
    code, rows = sync(capsys, registry)  # a re-run (CI's "re-run failed jobs") stays red until git changes
    assert code == 1
    assert outcomes(rows)["capital-cities"] == ("rejected-earlier", 3, None)
    assert history(capsys, registry, "capital-cities") == [(2, 2, True), (1, 1, False)]

    result = run_cli(capsys, "--registry", registry, "rollback", "capital-cities", "--yes")
    assert result.code == 0, result.err
    assert result.out.strip() == "capital-cities: production moved from version 2 to version 1 (release-1)"
    assert history(capsys, registry, "capital-cities") == [(2, 2, False), (1, 1, True)]
    git(root, "revert", "--no-edit", "HEAD")  # git back to version 2's content, which production left
    code, rows = sync(capsys, registry)
    assert (code, outcomes(rows)["capital-cities"]) == (0, ("held", 2, None))
    assert history(capsys, registry, "capital-cities") == [(2, 2, False), (1, 1, True)]
