"""User code cannot choose promptops' exit code, and a real Ctrl-C still interrupts (exit 130, nothing decided).

tests/test_bad_input.py holds the hostile pull requests (sys.exit, KeyboardInterrupt, CancelledError raised by
evaluators, tasks, retrievers and imports). Here: the guards themselves, and real SIGINTs sent to a real
`python -m promptops sync` while user code runs: in an async task, in a blocking task's worker thread, and while
a slow module imports, the three places where a signal and user code meet.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from promptops.errors import ConfigError
from promptops.usercode import building, describe, sigint_recorded
from tests.helpers import EXAMPLE_PROMPTS, REPO_ROOT, git, git_init, make_project

SLOW_TASKS = {
    "async-task": (
        "import asyncio, pathlib\n"
        "async def run(input, call_model):\n"
        "    pathlib.Path('started').touch()\n"
        "    await asyncio.sleep(60)\n",
        "slow_user_code:run",
    ),
    "thread-task": (
        "import pathlib, time\n"
        "def run(input, call_model):\n"
        "    pathlib.Path('started').touch()\n"
        "    time.sleep(3)\n"
        "    return 'Paris'\n",
        "slow_user_code:run",
    ),
    "slow-import": (
        "import pathlib, time\n"
        "pathlib.Path('started').touch()\n"
        "time.sleep(60)\n"
        "def run(input, call_model):\n"
        "    return 'Paris'\n",
        "slow_user_code:run",
    ),
}


def _default_sigint() -> None:  # in the child: a test runner may have left SIGINT ignored
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
@pytest.mark.parametrize("where", sorted(SLOW_TASKS))
def test_a_real_ctrl_c_during_user_code_interrupts_and_decides_nothing(tmp_path: Path, where: str) -> None:
    module, task = SLOW_TASKS[where]
    root = make_project(tmp_path / "repo", {"slow_user_code.py": module}, examples=True)
    source = (EXAMPLE_PROMPTS / "capital-cities.yaml").read_text("utf-8")
    (root / "prompts" / "capital-cities.yaml").write_text(
        source.replace("  model: mock-llm-v1\n", f"  model: mock-llm-v1\n  task: {task}\n"), "utf-8"
    )
    git_init(root)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGFUSE_", "PROMPTOPS_"))}
    env.update(PROMPTOPS_HOME=str(tmp_path / "home"), PYTHONPATH=f"{root}{os.pathsep}{REPO_ROOT}")
    process = subprocess.Popen(
        [sys.executable, "-m", "promptops", "sync", "capital-cities"],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (root / "started").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the user code never started"
        time.sleep(0.01)
    time.sleep(0.2)  # well inside the sleep, whichever thread runs it
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert "Traceback" not in out + err
    assert process.returncode == 130, out + err
    assert "interrupted" in err
    with sqlite3.connect(root / ".promptops" / "registry.db") as db:
        labels = {row[0] for row in db.execute("SELECT label FROM labels")} if _has_labels(db) else set()
    assert "production" not in labels  # nothing was promoted (nor rejected) on a partial run
    assert "rejected" not in labels
    git(root, "status", "--short")  # the repository is intact


def _has_labels(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE name = 'labels'").fetchone() is not None


def test_building_turns_anything_user_code_raises_into_a_config_error() -> None:
    for raised in (SystemExit(0), GeneratorExit(), ValueError("bad\nsecond line"), KeyboardInterrupt("by code")):
        with pytest.raises(ConfigError) as caught, building("task x"):
            raise raised
        assert str(caught.value) == f"task x: {describe(raised)}"
    assert describe(ValueError("bad\nsecond line")) == "ValueError: bad second line"
    assert describe(SystemExit()) == "SystemExit"


def test_a_keyboardinterrupt_from_a_real_sigint_stays_one() -> None:
    with pytest.raises(KeyboardInterrupt), building("task x"):
        signal.raise_signal(signal.SIGINT)  # delivered to our recording handler, which raises as Python's does
    with sigint_recorded() as received:
        assert received() is False
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_describe_cuts_a_long_message() -> None:
    text = describe(RuntimeError("x" * 10_000))
    assert text.startswith("RuntimeError: xxx") and text.endswith("…") and len(text) < 600
