"""JUnit XML for CI reporters, read back with junitparser: one case per prompt gate, failures where gates failed,
the failed and regressed items in system-out, counts that agree with the cases."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml, Skipped, TestCase, TestSuite

from promptops.junit import junit_xml
from promptops.results import Evaluation
from tests.helpers import git, run_cli, write_files
from tests.report_stories import (
    MIXED_FILES,
    check_with_reports,
    fake_item,
    fake_run,
    fake_view,
    fork_repo,
    mixed_branch,
    worse_wording_branch,
)
from tests.test_check import CAPITALS


def only_suite(path: Path) -> TestSuite:
    """Return the one test suite of a JUnit file, after checking its counts against its cases."""
    xml = JUnitXml.fromfile(str(path))
    suites = list(xml)
    assert len(suites) == 1
    suite: TestSuite = suites[0]
    recounted = copy.deepcopy(suite)
    recounted.update_statistics()
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (
        recounted.tests, recounted.failures, recounted.errors, recounted.skipped,
    )  # fmt: skip
    assert (xml.tests, xml.failures, xml.skipped) == (suite.tests, suite.failures, suite.skipped)
    return suite


def cases(suite: TestSuite) -> dict[str, TestCase]:
    """Return the suite's test cases by name."""
    return {case.name: case for case in suite}


def test_check_of_the_worse_wording_fails_its_one_case_with_every_regressed_item(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = fork_repo(tmp_path / "repo", monkeypatch)
    worse_wording_branch(repo)
    data = check_with_reports(capsys, tmp_path)
    suite = only_suite(tmp_path / "junit.xml")
    assert (suite.name, suite.tests, suite.failures, suite.skipped) == ("promptops check", 1, 1, 0)
    (case,) = list(suite)
    assert (case.name, case.classname) == ("capital-cities", "promptops.check")
    (failure,) = case.result
    assert isinstance(failure, Failure)
    verdict = data["prompts"][0]["verdict"]
    assert (failure.message, failure.type) == (verdict["reason"], "GateFailed")
    assert "  ✗ primary: exact_match fell from 1.00 to 0.00 (-1.00)" in (failure.text or "").splitlines()
    out = case.system_out or ""
    assert out.count("regressed: ") == len(CAPITALS)
    assert (
        'regressed: kenya (exact_match -1.00)\n  input:     {"country": "Kenya"}\n  expected:  Nairobi\n'
        '  baseline:  Nairobi\n  candidate: {"answer": "Nairobi"}'
    ) in out


def test_mixed_changes_list_failed_and_regressed_items_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = fork_repo(tmp_path / "repo", monkeypatch, MIXED_FILES)
    mixed_branch(repo)
    check_with_reports(capsys, tmp_path)
    quiz = cases(only_suite(tmp_path / "junit.xml"))["quiz"]
    assert quiz.is_failure
    headings = [line for line in (quiz.system_out or "").splitlines() if not line.startswith(" ")]
    assert [h for h in headings if h] == [
        "failed: no-country", "regressed: france (exact_match -1.00)", "regressed: germany (exact_match -1.00)",
    ]  # fmt: skip
    assert "  error:     missing variable: country" in (quiz.system_out or "").splitlines()


def test_sync_skips_what_it_did_not_judge_and_passes_what_it_promoted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fork_repo(tmp_path / "repo", monkeypatch)
    result = run_cli(capsys, "sync", "--junit", str(tmp_path / "first.xml"))
    assert result.code == 0
    first = cases(only_suite(tmp_path / "first.xml"))
    assert sorted(first) == ["capital-cities", "support-agent"]
    assert all(case.is_passed and case.system_out is None for case in first.values())
    assert run_cli(capsys, "sync", "--junit", str(tmp_path / "again.xml")).code == 0
    again = only_suite(tmp_path / "again.xml")
    assert (again.tests, again.failures, again.skipped) == (2, 0, 2)
    skipped = [r for case in again for r in case.result]
    assert all(isinstance(r, Skipped) for r in skipped)
    assert [r.message for r in skipped] == [
        "unchanged: production (version 1) holds this content; nothing to do",
        "unchanged: production (version 1) holds this content; nothing to do",
    ]


def test_validation_errors_are_one_failing_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = fork_repo(tmp_path / "repo", monkeypatch)
    write_files(repo, {"prompts/broken.yaml": "type: text\nprompt: 'Hello {{ name'\n"})
    result = run_cli(
        capsys, "check", "--base", "main", "--junit", str(tmp_path / "j.xml"), "--html", str(tmp_path / "h.html")
    )
    assert result.code == 1
    (case,) = list(only_suite(tmp_path / "j.xml"))
    assert case.name == "validation"
    (failure,) = case.result
    assert failure.type == "ValidationError"
    assert (failure.text or "").startswith("prompts/broken.yaml:")
    assert "Validation errors" in (tmp_path / "h.html").read_text("utf-8")


def test_experiment_is_one_case_and_control_characters_stay_valid_xml(tmp_path: Path) -> None:
    hostile = "\x1b[1mbold\x00 ]]> <x/> &amp;"
    run = fake_run([fake_item("a", hostile, 1.0), fake_item("b", None, 0.0, error=f"model error: {hostile}")])
    path = tmp_path / "j.xml"
    path.write_text(junit_xml(fake_view(Evaluation(run, None, "p"))), "utf-8")
    (case,) = list(only_suite(path))
    assert case.is_passed
    assert (case.system_out or "").splitlines() == [
        "failed: b", "  input:     {\"q\": \"b\"}", "  expected:  e",
        "  error:     model error: \\x1b[1mbold\\x00 ]]> <x/> &amp;",
    ]  # fmt: skip


def test_content_rejected_before_fails_its_case_without_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = fork_repo(tmp_path / "repo", monkeypatch)
    worse_wording_branch(repo)
    git(repo, "checkout", "-q", "main")
    assert run_cli(capsys, "sync").code == 0  # production: the better wording
    git(repo, "checkout", "-q", "pr")
    assert run_cli(capsys, "sync").code == 1  # the worse wording is rejected and remembered
    result = run_cli(capsys, "check", "--base", "main", "--junit", str(tmp_path / "j.xml"))
    assert result.code == 1, result.err
    case = cases(only_suite(tmp_path / "j.xml"))["capital-cities"]
    (failure,) = case.result
    assert isinstance(failure, Failure) and failure.type == "GateFailed"
    assert failure.message == (
        "version 2 has this content and was rejected by the gate: change the prompt in git "
        "(production stays on version 1)"
    )
    assert case.system_out is None  # nothing ran, so no item is listed
