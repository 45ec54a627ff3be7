"""Benchmark `promptops validate`: start-up cost next to bare Python, and time per prompt on 2,000 prompts.

Next to the bare floor (a process that only YAML-loads each file with libyaml and Jinja-parses and compiles its
templates), (d) runs cold (`--no-cache`; with a worker process per core, and in one process), warm (nothing
changed since the last run) and with one file changed before each run (the incremental cache,
promptops/validation_cache.py); the incremental floor is what any run keyed on file bytes pays before it can
check the changed file (the imports that needs, reading every file).

Run by hand from the repository root: `.venv/bin/python bench/bench_validate.py` (`--prompts 200 --runs 3` for a
smoke run, `--profile` to also print the cProfile hotspots of validating the generated repository in-process).
Every figure is the median wall time of N runs of a fresh subprocess, as CI and editors run the command:
(a) `python -c pass`, (b) `promptops --help`, (c) `promptops validate` on a copy of the example prompts,
(d) `promptops validate` on a generated repository: half text and half chat prompts in 20 folders, each with
runtime variables, a constant loop, an `{% include %}` of a shared partial, and an experiment on one shared dataset.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT_PROMPT = """\
description: Bench assistant {n}.
prompt: |
  You are assistant {n} of team {team} for {{{{ company }}}}.
  {{% include "_partials/tone.jinja" %}}
  {{% for rule in rules %}}
  - {{{{ rule }}}}
  {{% endfor %}}
  Question: {{{{ question }}}}
variables:
  company: {{description: The company the assistant speaks for.}}
  tone: {{description: How it sounds., enum: [polite, casual]}}
  question: {{description: The user's question.}}
constants:
  rules: [Answer in one sentence., Never invent facts.]
config: {{temperature: 0}}
tags: [bench, team-{team}]
experiment:
  dataset: shared
  seed: {n}
  evaluators:
    - type: contains
    - type: char_length
      name: answer_length
gate:
  primary: contains
  floors: {{contains: 0.5}}
"""
CHAT_PROMPT = """\
description: Bench chat agent {n}.
type: chat
messages:
  - role: system
    content: |
      You are agent {n} of team {team} for {{{{ company }}}}.
      {{% include "_partials/tone.jinja" %}}
      {{% for rule in rules %}}
      - {{{{ rule }}}}
      {{% endfor %}}
  - placeholder: history
  - role: user
    content: "{{{{ question }}}}"
variables:
  company: {{description: The company the agent speaks for.}}
  tone: {{description: How it sounds.}}
  question: {{description: The user's question.}}
constants:
  rules: [Be brief., Cite the article you used.]
labels: [bench]
experiment:
  dataset: shared
  evaluators:
    - type: exact_match
"""
PARTIAL = "Answer in a {{ tone }} tone; if you do not know, say so.\n"
ITEM = (
    "  - id: q{i}\n    input: {{company: Acme, tone: polite, question: 'Question {i}?'}}\n    expected_output: A{i}\n"
)


def promptops_command() -> list[str]:
    """Return the installed console script next to this Python, or `python -m promptops`."""
    script = Path(sys.executable).parent / "promptops"
    return [str(script)] if script.exists() else [sys.executable, "-m", "promptops"]


def example_repo(folder: Path) -> Path:
    """Copy the example prompts into a fresh project and return its root."""
    root = folder / "examples"
    shutil.copytree(ROOT / "prompts", root / "prompts")
    (root / "promptops.yaml").write_text("prompts_dir: prompts\n", "utf-8")
    return root


def generated_repo(folder: Path, count: int) -> Path:
    """Write a project of `count` prompts (half text, half chat) sharing a partial and a dataset."""
    root = folder / "generated"
    prompts = root / "prompts"
    (prompts / "_partials").mkdir(parents=True)
    (prompts / "datasets").mkdir()
    (root / "promptops.yaml").write_text("prompts_dir: prompts\n", "utf-8")
    (prompts / "_partials" / "tone.jinja").write_text(PARTIAL, "utf-8")
    items = "".join(ITEM.format(i=i) for i in range(20))
    (prompts / "datasets" / "shared.yaml").write_text(f"description: Shared bench items.\nitems:\n{items}", "utf-8")
    for n in range(count):
        team = n % 20
        path = prompts / f"team-{team:02}" / f"{'agent' if n % 2 else 'assistant'}-{n:04}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text((CHAT_PROMPT if n % 2 else TEXT_PROMPT).format(n=n, team=team), "utf-8")
    return root


# As an installed package runs: with its bytecode. A machine that sets PYTHONDONTWRITEBYTECODE=1 (this one does)
# would otherwise compile every promptops module in every run, which no user's install does.
CHILD_ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def median_seconds(command: list[str], runs: int, *, expect: int = 0, env: dict[str, str] | None = None) -> float:
    """Run a command `runs` times (after one warm-up run) and return the median wall time in seconds."""
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env={**CHILD_ENV, **(env or {})})
        elapsed = time.perf_counter() - start
        if done.returncode != expect:
            raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
        if i:  # the first run warms the page cache and .pyc files
            times.append(elapsed)
    return statistics.median(times)


FLOOR = """
import sys
from pathlib import Path

import jinja2
import yaml

env = jinja2.Environment()
for path in sorted(Path(sys.argv[1]).rglob("*.yaml")):
    if "datasets" in path.parts:
        continue
    data = yaml.load(path.read_text("utf-8"), Loader=yaml.CSafeLoader)
    messages = data.get("messages", [])
    sources = [data["prompt"]] if "prompt" in data else [m["content"] for m in messages if "content" in m]
    for source in sources:
        env.from_string(source)
"""


# What an incremental run cannot skip, whatever its cache: importing what checking one changed file needs, and
# reading and hashing every file to know which one changed (a key on file bytes, as promptops' cache is).
INCREMENTAL_FLOOR = """
import hashlib
import os
import sys

import jinja2
import jsonschema
import yaml

for top, dirs, names in os.walk(sys.argv[1]):
    for name in names:
        with open(os.path.join(top, name), "rb") as handle:
            hashlib.sha256(handle.read()).hexdigest()
"""


def median_changing(command: list[str], runs: int, change: Path) -> float:
    """Like median_seconds, with `change` rewritten (new bytes) before every run: one file changed."""
    times = []
    original = change.read_text("utf-8")
    for i in range(runs + 1):
        change.write_text(original.replace("Bench", f"Bench {i}"), "utf-8")
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=CHILD_ENV)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
        if i:
            times.append(elapsed)
    change.write_text(original, "utf-8")
    return statistics.median(times)


def machine() -> list[str]:
    """Describe where the numbers came from: nproc, Python, CPU model and date."""
    cpu = "unknown"
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        cpu = platform.processor() or cpu
    return [
        f"nproc: {os.cpu_count()}",
        f"python: {platform.python_version()} ({sys.executable})",
        f"cpu: {cpu}",
        f"date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
    ]


def profile(root: Path, top: int = 15) -> str:
    """Validate `root` in-process under cProfile and return the top functions by own and cumulative time."""
    sys.path.insert(0, str(ROOT))
    from promptops import api

    settings = api.load_settings(root)
    profiler = cProfile.Profile()
    result = profiler.runcall(api.validate, settings)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    out.write(f"in-process validate: {result.prompts} prompts, {result.errors} errors\n")
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def main() -> None:
    """Time the four commands and print a Markdown table (and with --profile, the hotspots)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11, help="runs per command, median taken (default 11)")
    parser.add_argument("--prompts", type=int, default=2000, help="prompts in the generated repository")
    parser.add_argument("--large-runs", type=int, default=5, help="runs for the generated repository (default 5)")
    parser.add_argument("--profile", action="store_true", help="also print cProfile hotspots for (d)")
    args = parser.parse_args()
    cli = promptops_command()
    with tempfile.TemporaryDirectory() as tmp:
        examples = example_repo(Path(tmp))
        generated = generated_repo(Path(tmp), args.prompts)
        python = median_seconds([sys.executable, "-c", "pass"], args.runs)
        help_ = median_seconds([*cli, "--help"], args.runs)
        small = median_seconds([*cli, "--project", str(examples), "validate"], args.runs)
        floor = median_seconds([sys.executable, "-c", FLOOR, str(generated / "prompts")], args.large_runs)
        large = median_seconds([*cli, "--project", str(generated), "--no-cache", "validate"], args.large_runs)
        one_process = {"PROMPTOPS_WORKERS": "1"}
        alone = median_seconds(
            [*cli, "--project", str(generated), "--no-cache", "validate"], args.large_runs, env=one_process
        )
        warm = median_seconds([*cli, "--project", str(generated), "validate"], args.large_runs)
        one = next((generated / "prompts").rglob("assistant-*.yaml"))
        changed = median_changing([*cli, "--project", str(generated), "validate"], args.large_runs, one)
        incremental = median_seconds([sys.executable, "-c", INCREMENTAL_FLOOR, str(generated / "prompts")], args.runs)
        hotspots = profile(generated) if args.profile else ""
    per_prompt_ms = large / args.prompts * 1000
    marginal_ms = (large - small) / args.prompts * 1000
    rows = [
        ("(a) `python -c pass`", python, f"{python / python:.1f}×"),
        ("(b) `promptops --help`", help_, f"{help_ / python:.1f}×"),
        ("(c) `promptops validate`, example repo (2 prompts, 2 datasets)", small, f"{small / python:.1f}×"),
        (f"(d) `promptops validate`, {args.prompts:,} generated prompts, cold", large, f"{large / python:.1f}×"),
    ]
    floor_rows = [
        ("floor: YAML-load (libyaml) and Jinja-compile every prompt", floor, "1.00×"),
        ("(d) cold (`--no-cache`), a worker per core", large, f"{large / floor:.2f}×"),
        ("(d) cold, one process (`PROMPTOPS_WORKERS=1`)", alone, f"{alone / floor:.2f}×"),
        ("(d) warm (nothing changed)", warm, f"{warm / floor:.2f}×"),
        ("(d) one file changed", changed, f"{changed / floor:.2f}×"),
        ("incremental floor: import yaml, jinja2, jsonschema; read and hash every file", incremental,
         f"{incremental / floor:.2f}×"),
    ]  # fmt: skip
    print("\n".join(f"- {line}" for line in machine()))
    print(f"- runs: median of {args.runs} (of {args.large_runs} for d), each a fresh process after one warm-up\n")
    print("| command | median wall time | ratio to (a) |")
    print("|---|---:|---:|")
    for label, seconds, ratio in rows:
        print(f"| {label} | {seconds * 1000:,.0f} ms | {ratio} |")
    print(f"\n(d) per prompt: {per_prompt_ms:.2f} ms; marginal over (c): {marginal_ms:.2f} ms per prompt")
    print("\n| command | median wall time | ratio to the floor |")
    print("|---|---:|---:|")
    for label, seconds, ratio in floor_rows:
        print(f"| {label} | {seconds * 1000:,.0f} ms | {ratio} |")
    if hotspots:
        print("\n```\n" + hotspots.rstrip() + "\n```")


if __name__ == "__main__":
    main()
