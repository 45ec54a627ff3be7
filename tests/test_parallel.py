"""Validation spread over worker processes answers exactly as one process does.

Workers are forked only from a process with no other thread, which a pytest-xdist worker is not, so these tests
run `promptops` as a fresh process, as users do, with PROMPTOPS_WORKERS choosing the number of workers.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import make_project

DATASET = "items:\n" + "".join(f"  - {{id: q{i}, input: {{topic: t{i}}}, expected_output: ok}}\n" for i in range(3))
BODIES = [
    "prompt: |\n  Tell me about {{{{ topic }}}} ({n}).\n  {{% include '_partials/tone.jinja' %}}\n",
    "prompt: |\n  {{{{ topic }}}} {{% if topic %}}x{{% endif %}} ({n})\n",  # a runtime variable in logic
    "prompt: |\n  {{{{ nope }}}} ({n})\n",  # undeclared
    "prompt: [unclosed ({n})\n",  # YAML syntax
    "prompt: |\n  {{% include '_partials/gone.jinja' %}} ({n})\n",
    "prompt: |\n  sk-lf-0123456789abcdef0123456789abcdef {{{{ topic }}}} ({n})\n",  # a secret
    "name: same-name\nprompt: |\n  {{{{ topic }}}} ({n})\n",  # duplicate names across files
    "type: chat\nmessages:\n  - role: system\n    content: 'Be {{{{ topic }}}} ({n}).'\n  - placeholder: history\n",
]
TAIL = (
    "variables:\n  topic: {{description: the topic}}\n"
    "experiment: {{dataset: {dataset}, evaluators: [{{type: exact_match}}]}}\n"
)


def _repository(root: Path, seed: int, count: int = 60) -> Path:
    rng = random.Random(seed)
    files = {"prompts/_partials/tone.jinja": "Be kind to {{ topic }}.\n", "prompts/datasets/d.yaml": DATASET}
    for n in range(count):
        body = rng.choice(BODIES).format(n=n)
        tail = TAIL.format(dataset=rng.choice(["d", "d", "missing"])) if not body.startswith("prompt: [") else ""
        files[f"prompts/team-{n % 4}/p{n:03}.yaml"] = body + tail
    return make_project(root, files)


def _validate(root: Path, workers: int, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "PROMPTOPS_WORKERS": str(workers)}
    command = [sys.executable, "-m", "promptops", "--project", str(root), *args, "validate", "--format", "json"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_workers_give_the_answer_one_process_gives(tmp_path: Path, seed: int) -> None:
    root = _repository(tmp_path / "repo", seed)
    alone = _validate(root, 1, "--no-cache")
    assert alone[0] == 1 and "Traceback" not in alone[2]
    codes = {d["code"] for d in json.loads(alone[1])}
    assert codes >= {
        "yaml-syntax", "undeclared-variable", "runtime-variable-in-logic", "include-not-found", "secret",
        "duplicate-name", "unknown-dataset",
    }  # fmt: skip
    for workers in (2, 3):
        assert _validate(root, workers, "--no-cache") == alone
    # With the cache: a first run by workers, then a run after edits where only the edited files are checked.
    assert _validate(root, 2) == alone
    edited = root / "prompts" / "team-1" / "p001.yaml"
    edited.write_text(BODIES[2].format(n=1) + TAIL.format(dataset="d"), "utf-8")
    (root / "prompts" / "_partials" / "gone.jinja").write_text("Here now.\n", "utf-8")
    assert _validate(root, 2) == _validate(root, 1, "--no-cache")


def test_workers_are_forked_processes_and_keep_the_order(tmp_path: Path) -> None:
    code = (
        "import os\nfrom promptops import parallel\n"
        "found = parallel.ordered_map(lambda i: (i, os.getpid()), 400)\n"
        "assert [i for i, _ in found] == list(range(400))\n"
        "pids = {pid for _, pid in found}\n"
        "print('here' if pids == {os.getpid()} else f'in {len(pids)} other processes' if os.getpid() not in pids "
        "else 'mixed')\n"
    )
    env = {**os.environ, "PROMPTOPS_WORKERS": "2"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    # Two workers share the items; a slow start can leave all of them to one (how many is the machine's timing).
    assert done.returncode == 0, done.stderr
    assert done.stdout in ("in 1 other processes\n", "in 2 other processes\n")
    env["PROMPTOPS_WORKERS"] = "1"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert (done.returncode, done.stdout) == (0, "here\n"), done.stderr
