"""The HTML report of check, sync and experiment: strict HTML, nothing loaded from outside, every item and metric
of the run (read back from the same run's JSON), masked like the PR comment, with both runs side by side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptops.htmlreport import html_report
from promptops.htmlreport.charts import _bins
from promptops.htmlreport.diffs import prompt_diff, word_diff
from promptops.htmlreport.stats import interval, percentile
from promptops.results import Evaluation
from promptops.runview import item_rows
from promptops.verdict import format_value
from tests.helpers import git, run_cli
from tests.langfuse_double.server import LangfuseDouble
from tests.report_stories import (
    MIXED_FILES,
    MIXED_STATUSES,
    cell,
    check_with_reports,
    fake_item,
    fake_run,
    fake_view,
    fork_repo,
    html_item_rows,
    mixed_branch,
    outside_urls,
    parse_strict,
    prompt_section,
    text_of,
    worse_wording_branch,
)
from tests.test_check import BETTER, CAPITALS, WORSE
from tests.test_sync_kill import edit_capital_cities


def metric_rows(section: object) -> dict[str, list[str]]:
    """Return {metric: [cell texts]} of a prompt section's metrics table."""
    rows = {}
    for row in section.iter("tr"):  # type: ignore[attr-defined]
        if row.get("data-metric") is not None:
            rows[row.get("data-metric")] = [text_of(c).strip() for c in row if c.tag in ("td", "th")]
    return rows


def test_check_report_of_the_worse_wording_holds_every_item_and_metric_of_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = fork_repo(tmp_path / "repo", monkeypatch)
    worse_wording_branch(repo)
    data = check_with_reports(capsys, tmp_path)
    text = (tmp_path / "report.html").read_text("utf-8")
    doc = parse_strict(text)
    assert outside_urls(doc, text) == []

    (prompt,) = data["prompts"]
    verdict = prompt["verdict"]
    section = prompt_section(doc, "capital-cities")
    assert text_of(section.find(".//p[@class='reason']")) == verdict["reason"]
    metrics = metric_rows(section)
    assert list(metrics) == [m["name"] for m in verdict["metrics"]]
    for m in verdict["metrics"]:
        name = m["name"] + (" ★" if m["name"] == verdict["primary"] else "")
        assert metrics[m["name"]][:5] == [
            name, "higher" if m["higher_is_better"] else "lower", format_value(m["baseline"]),
            format_value(m["candidate"]), format_value(m["delta"], signed=True),
        ]  # fmt: skip
    rows = html_item_rows(section)
    assert sorted(rows) == sorted(CAPITALS)  # every item of the dataset, and no other
    regressed = {item_id for item_id, row in rows.items() if row.get("data-status") == "regressed"}
    assert {w["item_id"] for w in verdict["worse_items"]} == regressed
    for worse in verdict["worse_items"]:
        row = rows[worse["item_id"]]
        assert cell(row, "out base") == worse["baseline_output"]
        assert cell(row, "out cand") == worse["candidate_output"]
        assert row.get("data-delta") == repr(worse["delta"])
    # The word diff shows what the candidate added around the answer the baseline gave.
    france = rows["france"].find(".//td[@class='out diff']")
    assert [text_of(e) for e in france.iter("ins")] == ['{"answer": "', '"}']  # type: ignore[union-attr]
    # The prompt diff: the changed line, with the words that changed marked on each side.
    diff = section.find(".//table[@class='prompt-diff']")
    assert diff is not None
    lines = [r for r in diff.iter("tr") if r.get("class") in ("del", "ins")]
    changed = {r.get("class"): text_of(r.find("td[@class='code']")) for r in lines}
    assert changed == {"del": "−" + BETTER.strip(), "ins": "+" + WORSE.strip()}
    assert "Checks" in [text_of(h) for h in section.iter("h3")]


def test_sync_report_shows_both_runs_of_the_rejected_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = fork_repo(tmp_path / "repo", monkeypatch)
    assert run_cli(capsys, "sync").code == 0
    edit_capital_cities(repo, BETTER, "Ask for only the city name")
    assert run_cli(capsys, "sync").code == 0
    edit_capital_cities(repo, WORSE, "Ask for JSON")
    result = run_cli(capsys, "sync", "--json", "--html", str(tmp_path / "sync.html"))
    assert result.code == 1
    data = {p["name"]: p for p in json.loads(result.out)["prompts"]}
    text = (tmp_path / "sync.html").read_text("utf-8")
    doc = parse_strict(text)
    assert outside_urls(doc, text) == []
    section = prompt_section(doc, "capital-cities")
    facts = [text_of(d) for d in section.find("dl").iter("dd")]  # type: ignore[union-attr]
    assert facts[:4] == ["changed", "3", "version 3 (candidate)", "version 2 (production)"]
    verdict = data["capital-cities"]["verdict"]
    assert list(metric_rows(section)) == [m["name"] for m in verdict["metrics"]]
    rows = html_item_rows(section)
    assert sorted(rows) == sorted(CAPITALS)
    assert {r.get("data-status") for r in rows.values()} == {"regressed"}
    assert cell(rows["peru"], "out base") == "Lima"
    assert cell(rows["peru"], "out cand") == '{"answer": "Lima"}'
    unchanged = prompt_section(doc, "support-agent")
    assert text_of(unchanged.find(".//p[@class='reason']")) == data["support-agent"]["message"]
    assert html_item_rows(unchanged) == {}


def test_experiment_report_lists_every_item_and_metric_of_its_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fork_repo(tmp_path / "repo", monkeypatch)
    result = run_cli(capsys, "experiment", "capital-cities", "--json", "--html", str(tmp_path / "exp.html"))
    assert result.code == 0, result.err
    data = json.loads(result.out)
    text = (tmp_path / "exp.html").read_text("utf-8")
    doc = parse_strict(text)
    assert outside_urls(doc, text) == []
    section = prompt_section(doc, "capital-cities")
    assert list(metric_rows(section)) == list(data["metrics"])
    for name, m in data["metrics"].items():
        assert metric_rows(section)[name][2] == format_value(m["mean"])
    rows = html_item_rows(section)
    assert sorted(rows) == sorted(i["id"] for i in data["items"])
    for item in data["items"]:
        assert cell(rows[item["id"]], "out cand") == item["output"]
        assert rows[item["id"]].get("data-status") == "scored"
    assert section.find(".//pre[@class='prompt-text']") is not None  # no baseline: the prompt as it ran


def test_mixed_changes_are_classified_like_the_gate_and_listed_worst_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = fork_repo(tmp_path / "repo", monkeypatch, MIXED_FILES)
    mixed_branch(repo)
    data = check_with_reports(capsys, tmp_path)
    doc = parse_strict((tmp_path / "report.html").read_text("utf-8"))
    section = prompt_section(doc, "quiz")
    rows = html_item_rows(section)
    assert {i: r.get("data-status") for i, r in rows.items()} == MIXED_STATUSES
    # Without the script the rows come in the order that needs a look first.
    assert list(rows) == ["no-country", "france", "germany", "france-json", "atlantis"]
    (quiz,) = [p for p in data["prompts"] if p["name"] == "quiz"]
    assert {w["item_id"] for w in quiz["verdict"]["worse_items"]} == {"france", "germany"}
    assert "missing variable" in cell(rows["no-country"], "out cand")
    buttons = {b.get("data-filter"): text_of(b) for b in section.iter("button")}
    assert buttons == {
        "all": "all (5)", "failed": "failed (1)", "regressed": "regressed (2)", "improved": "improved (1)",
        "unchanged": "unchanged (1)",
    }  # fmt: skip
    controls = section.find(".//div[@class='controls']")
    assert controls is not None and controls.get("hidden") is not None  # shown by the script only


def test_report_is_masked_exactly_like_the_pr_comment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    country = "France (ada@example.com, +44 20 7946 0958)"
    secret_item = f"- {{id: mail, input: {{country: '{country}'}}, expected_output: Paris}}\n"
    files = {"promptops.yaml": 'prompts_dir: prompts\nredact:\n  patterns: ["Canberra"]\n'}
    repo = fork_repo(tmp_path / "repo", monkeypatch, files)
    dataset = repo / "prompts" / "datasets" / "capital-cities-tutorial.yaml"
    dataset.write_text(dataset.read_text("utf-8") + "  " + secret_item, "utf-8")
    git(repo, "commit", "-qam", "An item with personal data")
    worse_wording_branch(repo)
    result = run_cli(capsys, "check", "--base", "main", "--report", str(tmp_path / "report.md"),
                     "--html", str(tmp_path / "report.html"), "--junit", str(tmp_path / "junit.xml"))  # fmt: skip
    assert result.code == 1
    markdown = (tmp_path / "report.md").read_text("utf-8")
    for path in ("report.html", "junit.xml"):
        text = (tmp_path / path).read_text("utf-8")
        for raw in ("ada@example.com", "7946", "Canberra"):
            assert raw not in text, (path, raw)
            assert raw not in markdown
        for masked in ("[REDACTED email]", "[REDACTED phone]", "[REDACTED]"):
            assert masked in text, (path, masked)
            assert masked in markdown
    row = html_item_rows(prompt_section(parse_strict((tmp_path / "report.html").read_text("utf-8")), "capital-cities"))
    assert cell(row["australia"], "out cand") == '{"answer": "[REDACTED]"}'
    assert "country: France ([REDACTED email], [REDACTED phone])" in text_of(row["mail"])


def test_sync_on_langfuse_links_every_item_to_its_trace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], langfuse_double: LangfuseDouble
) -> None:
    repo = fork_repo(tmp_path / "repo", monkeypatch)
    for key, value in langfuse_double.env.items():
        monkeypatch.setenv(key, value)
    assert run_cli(capsys, "--registry", "langfuse", "sync").code == 0
    edit_capital_cities(repo, BETTER, "Ask for only the city name")
    result = run_cli(capsys, "--registry", "langfuse", "sync", "capital-cities", "--html", str(tmp_path / "lf.html"))
    assert result.code == 0, result.err
    text = (tmp_path / "lf.html").read_text("utf-8")
    doc = parse_strict(text)
    prefix = f"{langfuse_double.base_url}/project/{langfuse_double.project_id}/traces/"
    assert outside_urls(doc, text, allowed_prefix=prefix) == []
    links = [a for a in doc.iter("a") if a.get("class") == "trace"]
    assert len(links) == 20  # ten items, each in the baseline and the candidate run
    traced = {s.trace_id for s in langfuse_double.spans(name="experiment-item")}
    linked = {a.get("href", "").removeprefix(prefix) for a in links}
    assert len(linked) == 20 and linked <= traced
    for row in html_item_rows(prompt_section(doc, "capital-cities")).values():
        assert [text_of(a) for a in row.iter("a")] == ["baseline trace", "candidate trace"]


def test_local_runs_have_no_links() -> None:
    run = fake_run([fake_item("a", "x", 1.0)])
    view = fake_view(Evaluation(run, None, "prompt"), trace_urls={})
    assert "<a " not in html_report(view)


# -- the pieces, on values ------------------------------------------------------------------------------------


def test_control_characters_in_outputs_keep_the_file_valid() -> None:
    hostile = "\x1b[31mred\x00 </pre><script>alert(1)</script> \ud800"
    run = fake_run([fake_item("a", hostile, 1.0), fake_item("b", None, 0.0, error=f"task error: {hostile}")])
    text = html_report(
        fake_view(Evaluation(run, fake_run([fake_item("a", "x", 0.0), fake_item("b", "y", 1.0)]), "p", "p"))
    )
    doc = parse_strict(text)
    assert [s.get("src") for s in doc.iter("script")] == [None]  # ours only; the output's script is text
    assert "\\x1b[31mred\\x00 </pre><script>alert(1)</script> \ufffd" in text_of(doc)


def test_intervals_appear_with_repeats_only() -> None:
    once = fake_run([fake_item(i, "o", v) for i, v in (("a", 1.0), ("b", 0.0))])
    assert interval(once, "score") is None
    # Items a, b, c ran twice: item means 1.0, 0.5, 0.0, so mean 0.5 ± 1.96 * 0.5 / sqrt(3) = ± 0.566.
    values = {"a": (1.0, 1.0), "b": (1.0, 0.0), "c": (0.0, 0.0)}
    repeated = fake_run([fake_item(i, "o", v[r], repeat=r) for i, v in values.items() for r in (0, 1)])
    assert interval(repeated, "score") == (0.0, 1.0)  # a share cannot leave [0, 1]
    tight = fake_run([fake_item(i, "o", v, repeat=r) for i, v in (("a", 6.0), ("b", 5.0), ("c", 4.0)) for r in (0, 1)])
    low, high = interval(tight, "score")  # type: ignore[misc]
    half = 1.959963984540054 * 1.0 / 3**0.5  # sd of 6, 5, 4 is 1
    assert (round(low, 9), round(high, 9)) == (round(5 - half, 9), round(5 + half, 9))
    text = html_report(fake_view(Evaluation(tight, None, "p")))
    assert f"5.00 [{format_value(low)}, {format_value(high)}]" in text  # 5.00 [3.87, 6.13]


def test_percentile_interpolates_between_ranks() -> None:
    assert [percentile([1.0, 2.0, 3.0, 4.0], q) for q in (0, 50, 95, 100)] == [1.0, 2.5, 3.85, 4.0]


def test_item_rows_classify_by_the_primary_metric_and_its_direction() -> None:
    fixed = fake_item("fixed", None, 0.0, error="x")
    base = fake_run([fake_item("up", "a", 0.0), fake_item("down", "b", 1.0), fake_item("same", "c", 0.5), fixed])
    cand = fake_run(
        [
            fake_item("up", "a", 1.0),
            fake_item("down", "b", 0.0),
            fake_item("same", "c", 0.5),
            fake_item("fixed", "d", 0.0),
        ]
    )
    rows = item_rows(Evaluation(cand, base, "p", "p"), "score")
    assert [(r.item_id, r.status, r.delta) for r in rows] == [
        ("down", "regressed", -1.0), ("up", "improved", 1.0), ("fixed", "improved", 0.0), ("same", "unchanged", 0.0),
    ]  # fmt: skip
    assert all(r.status == "scored" for r in item_rows(Evaluation(cand, None, "p"), "score"))


def test_word_diff_marks_what_changed() -> None:
    changed = word_diff("The capital is Paris.", "The capital is Lyon.")
    assert changed == "The capital is <del>Paris</del><ins>Lyon</ins>."
    assert word_diff("same", "same") == '<span class="muted">identical</span>'
    assert word_diff("<b>", "<i>") == "&lt;<del>b</del><ins>i</ins>&gt;"


def test_prompt_diff_folds_long_unchanged_runs() -> None:
    old = "\n".join(f"line {i}" for i in range(20))
    new = old.replace("line 10", "line ten")
    shown = prompt_diff(old, new)
    assert shown.count('<tr class="same">') == 6 and shown.count('<tr class="fold">') == 0
    numbers = '<td class="ln">11</td><td class="ln"></td>'
    assert (
        f'<tr class="del">{numbers}<td class="code"><span class="sign">−</span>line <mark>10</mark></td></tr>' in shown
    )
    two = prompt_diff(old, new.replace("line 1\n", "line one\n"))
    assert two.count('<tr class="fold">') == 1
    assert "nothing to diff" in prompt_diff(None, new)


def test_histogram_bins_exact_values_then_ranges() -> None:
    assert _bins([-1.0, -1.0, 0.0, 1e-12]) == [(-1.0, -1.0, 2), (0.0, 0.0, 2)]
    spread = _bins([float(i) for i in range(16)])
    assert len(spread) == 8 and sum(n for *_, n in spread) == 16 and spread[0][:2] == (0.0, 1.875)


def test_latency_is_drawn_only_where_it_was_measured() -> None:
    from dataclasses import replace

    timed = fake_run([fake_item("a", "x", 1.0), fake_item("b", "y", 0.0)])
    assert 'aria-label="Latency per item (ms)"' in html_report(fake_view(Evaluation(timed, None, "p")))
    untimed = replace(timed, items=tuple(replace(i, latency_s=0.0) for i in timed.items))
    assert "Latency per item" not in html_report(fake_view(Evaluation(untimed, None, "p")))
    counted = replace(untimed, input_tokens=12, output_tokens=3)
    doc = parse_strict(html_report(fake_view(Evaluation(counted, None, "p"))))
    facts = prompt_section(doc, "p").find(".//dl[@class='facts']")
    assert "candidate 12 in / 3 out" in text_of(facts)
