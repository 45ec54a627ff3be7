"""The HTML report in a real browser: Debian's chromium, headless, driven by playwright, the network off.

The report loads from a file without a console error (a Content-Security-Policy violation is one) and without
one request leaving the file; the filters and sorting work; without JavaScript every item is still there. The
screenshot of the README's worse-wording story lands in tests/output/ for a person to look at.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.report_stories import (
    MIXED_FILES,
    MIXED_STATUSES,
    OUTPUT_DIR,
    check_with_reports,
    fork_repo,
    mixed_branch,
    worse_wording_branch,
)
from tests.test_check import CAPITALS

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip


def chromium() -> str:
    """Return Debian's chromium, installing it first where this run may (root with apt), else skip saying how.

    pip cannot bring a browser, and playwright's own download cannot reach its host, so the test setup installs
    the system package; the xdist workers take a lock, so one of them installs and the others wait for it.
    """
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        found = _install_chromium()
    if found is None:
        pytest.skip("no chromium on this machine, and this run cannot install it: `apt-get install -y chromium`")
    return found


def _install_chromium() -> str | None:
    import fcntl
    import os
    import subprocess

    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None
    with open(Path(tempfile.gettempdir()) / "promptops-chromium.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be installing it right now
        if shutil.which("chromium") is None:
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
                try:
                    subprocess.run(command, env=env, capture_output=True, timeout=900, check=True)
                except (OSError, subprocess.SubprocessError):
                    return None
    return shutil.which("chromium")


class Page:
    """One page of a fresh browser profile, with what it logged and every request it tried."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))

    def open(self, path: Path) -> Any:
        """Load the report from the file and check it loaded nothing else and logged nothing."""
        self.page.goto(path.as_uri())
        self.page.wait_for_load_state("load")
        assert self.requests == [path.as_uri()]
        assert self.errors == []
        return self.page

    def visible_ids(self, section: str) -> list[str]:
        """Return the ids of the item rows a person sees in a prompt's section, top to bottom."""
        rows = self.page.locator(f"section#{section} tr.item")
        return [rows.nth(i).get_attribute("data-id") for i in range(rows.count()) if rows.nth(i).is_visible()]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Yield a function opening a new page in a headless chromium with a fresh profile and no network.

    Playwright starts on the first page, not before the test: its sync API keeps an event loop running in
    this thread, and promptops' runner, which runs first, starts its own.
    """
    executable = chromium()
    from playwright.sync_api import sync_playwright

    with ExitStack() as stack:

        def new_page(*, javascript: bool = True) -> Page:
            if not stack_state:
                stack_state.append(stack.enter_context(sync_playwright()))
            profile = stack.enter_context(tempfile.TemporaryDirectory(prefix="chromium-profile-"))
            context = stack_state[0].chromium.launch_persistent_context(
                profile, executable_path=executable, headless=True, offline=True, args=CHROMIUM_ARGS,
                java_script_enabled=javascript, viewport={"width": 1400, "height": 900},
            )  # fmt: skip
            stack.callback(context.close)
            return Page(context.new_page())

        stack_state: list[Any] = []
        yield new_page


def section_id(page: Any, name: str) -> str:
    """Return the id of the report section of prompt `name`."""
    found: str = page.locator("section.prompt", has=page.locator("h2", has_text=name)).first.get_attribute("id")
    return found


def test_worse_wording_report_loads_offline_cleanly_and_is_kept_as_a_screenshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], browser: Any
) -> None:
    repo = fork_repo(tmp_path / "repo", monkeypatch)
    worse_wording_branch(repo)
    check_with_reports(capsys, tmp_path)
    view = browser()
    page = view.open(tmp_path / "report.html")
    section = section_id(page, "capital-cities")
    assert sorted(view.visible_ids(section)) == sorted(CAPITALS)
    assert page.locator(f"section#{section} .controls").is_visible()  # the script ran and showed the filters
    assert page.locator(f"section#{section} .controls .shown").inner_text() == "10 of 10 shown"
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tmp_path / "report.html", OUTPUT_DIR / "worse-wording-report.html")
    page.screenshot(path=str(OUTPUT_DIR / "worse-wording-report.png"), full_page=True)
    assert (OUTPUT_DIR / "worse-wording-report.png").stat().st_size > 10_000
    assert view.errors == [] and len(view.requests) == 1


def test_the_regressed_filter_shows_exactly_the_regressed_items_then_sorting_reorders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], browser: Any
) -> None:
    repo = fork_repo(tmp_path / "repo", monkeypatch, MIXED_FILES)
    mixed_branch(repo)
    check_with_reports(capsys, tmp_path)
    view = browser()
    page = view.open(tmp_path / "report.html")
    section = section_id(page, "quiz")
    assert view.visible_ids(section) == ["no-country", "france", "germany", "france-json", "atlantis"]

    page.click(f"section#{section} button[data-filter=regressed]")
    regressed = sorted(item for item, status in MIXED_STATUSES.items() if status == "regressed")
    assert sorted(view.visible_ids(section)) == regressed
    assert page.locator(f"section#{section} button[data-filter=regressed]").get_attribute("aria-pressed") == "true"
    assert page.locator(f"section#{section} .controls .shown").inner_text() == "2 of 5 shown"

    page.click(f"section#{section} button[data-filter=failed]")
    assert view.visible_ids(section) == ["no-country"]
    page.click(f"section#{section} button[data-filter=all]")
    page.fill(f"section#{section} input[type=search]", "atlantis")
    assert view.visible_ids(section) == ["atlantis"]
    page.fill(f"section#{section} input[type=search]", "")

    page.click(f"section#{section} th[data-sort=id] button")
    assert view.visible_ids(section) == sorted(MIXED_STATUSES)
    page.click(f"section#{section} th[data-sort=id] button")
    assert view.visible_ids(section) == sorted(MIXED_STATUSES, reverse=True)
    assert view.errors == [] and len(view.requests) == 1


def test_without_javascript_every_item_is_shown_and_the_controls_stay_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], browser: Any
) -> None:
    repo = fork_repo(tmp_path / "repo", monkeypatch, MIXED_FILES)
    mixed_branch(repo)
    check_with_reports(capsys, tmp_path)
    view = browser(javascript=False)
    page = view.open(tmp_path / "report.html")
    section = section_id(page, "quiz")
    assert view.visible_ids(section) == ["no-country", "france", "germany", "france-json", "atlantis"]
    assert not page.locator(f"section#{section} .controls").is_visible()
    assert page.locator(f"section#{section} th[data-sort=id] button").count() == 0
