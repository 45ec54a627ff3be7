"""The stories the report tests tell, on real git repositories: the README's worse wording, and a mixed one.

Also the checks every report must pass whatever it shows: strict HTML parsing and no URL leaving the file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import html5lib
import pytest

from promptops.evaluators.aggregate import MetricSummary
from promptops.evaluators.base import Score
from promptops.results import Evaluation, ExperimentResult, ItemResult
from promptops.runview import PromptView, RunView
from tests.helpers import REPO_ROOT, git, git_init, make_project, run_cli
from tests.test_check import BETTER, LANGFUSE_ENV, WORSE, set_instruction

OUTPUT_DIR = REPO_ROOT / "tests" / "output"  # gitignored: what the browser tests leave for a person to open
URL_ATTRIBUTES = ("href", "src", "srcset", "action", "formaction", "poster", "data", "xlink:href", "background")

# A dataset where "Answer in JSON." moves items every way: two regress (1 -> 0), one improves (its expected
# answer is the JSON form), one stays wrong (the mock answers an unknown country wrongly both times) and one
# fails (it lacks the optional variable, so the task cannot fill the prompt).
MIXED_FILES = {
    "prompts/quiz.yaml": """
        type: text
        prompt: |
          You are a helpful geography assistant.
          Question: What is the capital of {{ country }}?
        variables:
          country: {description: The country, required: false}
        config: {temperature: 0}
        experiment:
          dataset: quiz
          model: mock-llm-v1
          seed: 1
          evaluators:
            - type: exact_match
            - {type: contains, name: mentions_capital}
        gate:
          primary: exact_match
    """,
    "prompts/datasets/quiz.yaml": """
        items:
          - {id: france, input: {country: France}, expected_output: Paris}
          - {id: germany, input: {country: Germany}, expected_output: Berlin}
          - {id: atlantis, input: {country: Atlantis}, expected_output: Atlantis City}
          - {id: france-json, input: {country: France}, expected_output: '{"answer": "Paris"}'}
          - {id: no-country, input: {}, expected_output: Paris}
    """,
}
MIXED_STATUSES = {
    "france": "regressed",
    "germany": "regressed",
    "france-json": "improved",
    "atlantis": "unchanged",
    "no-country": "failed",
}


def fork_repo(root: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str | bytes] | None = None) -> Path:
    """A repository on main with the example prompts (and `files`), no credentials, as the current folder."""
    for key in (*LANGFUSE_ENV, "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(key, raising=False)
    make_project(root, files, examples=True)
    git_init(root)
    monkeypatch.chdir(root)
    return root


def worse_wording_branch(root: Path) -> None:
    """Make capital-cities better on main, then worse ("Answer in JSON.") on the branch `pr`."""
    set_instruction(root, BETTER, "Ask for only the city name")
    git(root, "checkout", "-qb", "pr")
    set_instruction(root, WORSE, "Ask for JSON")


def mixed_branch(root: Path) -> None:
    """Give quiz the better wording on main and the worse one on the branch `pr`."""
    path = root / "prompts" / "quiz.yaml"
    question = "  Question: What is the capital of {{ country }}?\n"
    path.write_text(path.read_text("utf-8").replace(question, BETTER + question), "utf-8")
    git(root, "commit", "-qam", "quiz: only the city name")
    git(root, "checkout", "-qb", "pr")
    path.write_text(path.read_text("utf-8").replace(BETTER, WORSE), "utf-8")
    git(root, "commit", "-qam", "quiz: JSON")


def check_with_reports(capsys: pytest.CaptureFixture[str], out: Path) -> dict[str, Any]:
    """Run `check --format json --html --junit` on the current repository; return its JSON (exit 1 expected)."""
    result = run_cli(
        capsys, "check", "--base", "main", "--format", "json", "--html", str(out / "report.html"),
        "--junit", str(out / "junit.xml"),
    )  # fmt: skip
    assert result.code == 1, result.err
    assert f"HTML report: {out / 'report.html'}" in result.err.splitlines()
    data: dict[str, Any] = json.loads(result.out)
    return data


def parse_strict(text: str) -> Element:
    """Parse HTML with html5lib in strict mode: any parse error (per the WHATWG algorithm) raises."""
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    doc: Element = parser.parse(text)
    assert parser.errors == []
    return doc


def outside_urls(doc: Element, text: str, allowed_prefix: str | None = None) -> list[str]:
    """Return every URL the page would load or link to, other than in-page anchors and `allowed_prefix` links."""
    found = []
    for element in doc.iter():
        for name in URL_ATTRIBUTES:
            value = element.get(name)
            if value is None or value.startswith("#"):
                continue
            if allowed_prefix is not None and element.tag == "a" and value.startswith(allowed_prefix):
                continue
            found.append(f"<{element.tag} {name}={value!r}>")
    for style in doc.iter("style"):
        found += [f"css {m}" for m in re.findall(r"url\(|@import|https?://", style.text or "")]
    for script in doc.iter("script"):
        found += [f"script src {script.get('src')}"] if script.get("src") else []
        found += [f"js {m}" for m in re.findall(r"https?://|fetch\(|XMLHttpRequest|import\(", script.text or "")]
    found += [f"<{tag}>" for tag in ("link", "img", "iframe", "object", "embed", "base") if doc.find(f".//{tag}")]
    return found


def text_of(element: Element | None) -> str:
    """Return all the text inside an element."""
    return "" if element is None else "".join(element.itertext())


def html_item_rows(section: Element) -> dict[str, Element]:
    """Return the item rows of one prompt section by their item id."""
    return {row.get("data-id", ""): row for row in section.iter("tr") if row.get("class") == "item"}


def cell(row: Element, cls: str) -> str:
    """Return the text of the row's cell with this class (e.g. "out base")."""
    found = [td for td in row.iter("td") if td.get("class") == cls]
    assert len(found) == 1, cls
    return text_of(found[0])


def prompt_section(doc: Element, name: str) -> Element:
    """Return the report section of one prompt, by the name in its heading."""
    for section in doc.iter("section"):
        heading = section.find("h2")
        if section.get("class") == "prompt" and heading is not None and (heading.text or "").strip() == name:
            return section
    raise AssertionError(f"no section for {name}")


def fake_item(item_id: str, output: str | None, value: float, repeat: int = 0, error: str | None = None) -> ItemResult:
    """Return an item with one NUMERIC score `score` (none when it failed)."""
    scores = () if error else (Score("score", value, "NUMERIC"),)
    trace = f"t{item_id}{repeat}"
    return ItemResult(item_id, repeat, {"q": item_id}, "e", output, error, scores, 0.001, trace_id=trace)


def fake_run(items: list[ItemResult]) -> ExperimentResult:
    """Return a run of these items with the `score` metric summarised."""
    values = [i.score("score").value for i in items if i.score("score")]  # type: ignore[union-attr]
    mean = sum(values) / len(items) if items else None  # type: ignore[arg-type]
    summary = MetricSummary("score", "NUMERIC", len(values), len(items) - len(values), mean, None)
    return ExperimentResult("p", "working tree", None, "d", "mock-llm-v1", 1, tuple(items), {"score": summary}, "r")


def fake_view(runs: Evaluation, trace_urls: dict[str, str] | None = None) -> RunView:
    """Return the view of one prompt's runs."""
    prompt = PromptView("p", "ran", True, "it ran", (), None, runs, "score")
    return RunView("experiment", True, "It ran.", (), (prompt,), (), trace_urls or {})
