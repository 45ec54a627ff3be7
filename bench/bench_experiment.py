"""Benchmark `promptops experiment` as a whole process against promptfoo's `eval` of the same 200 items.

Run by hand from the repository root: `.venv/bin/python bench/bench_experiment.py` (add `--quick` for a smoke run).

(a) Whole processes, side by side in one run: `promptops experiment capitals` (mock-llm-v1 at latency 0, an
exact_match evaluator, concurrency 32, the local registry and local tracing) on 200 capital questions, next to
promptfoo 0.121.20 `eval` of the same 200 questions with its `echo` provider and an `equals` assertion,
`--max-concurrency 32 --no-cache --no-write`. promptops runs warm (its validation cache filled by an earlier run,
as every run after the first in a checkout) and cold (a fresh copy of the project, nothing cached), and
`promptops validate` cold, the part of a cold run that the cache saves. Each figure
is the median of alternating runs; peak memory is each child's own maximum RSS (os.wait4).
(b) CPU per item of the runner alone, in this process: 2,000 items at latency 0, with no tracing and with
LocalTracer (one SQLite transaction per finished item).

promptfoo is not installed into the project: pass `--promptfoo PATH` to its executable, or `--install-promptfoo`
to `npm install promptfoo@0.121.20` into a temporary folder (needs node and npm). Without either, (a) runs
promptops alone and says so.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PROMPTFOO_VERSION = "0.121.20"
CAPITALS = (
    ("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Japan", "Tokyo"),
    ("Canada", "Ottawa"), ("Brazil", "Brasilia"), ("Egypt", "Cairo"), ("Kenya", "Nairobi"), ("India", "New Delhi"),
)  # fmt: skip
PREFIX = "Answer with only the city name."
PROMPT = f"""type: text
prompt: "{PREFIX} What is the capital of {{{{ country }}}}?"
variables:
  country: {{description: The country to ask about.}}
experiment:
  dataset: capitals
  model: mock-llm-v1
  concurrency: 32
  evaluators:
    - type: exact_match
"""


def items(n: int) -> list[tuple[str, str]]:
    """Return n (country, capital) pairs cycling through the ten capitals, as the anchor's tests do."""
    return [CAPITALS[i % len(CAPITALS)] for i in range(n)]


def promptops_project(folder: Path, n: int) -> Path:
    """Write a git repository with the capitals prompt and an n-item dataset; return its root."""
    root = folder / "promptops-project"
    (root / "prompts" / "datasets").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.promptops]\nprompts_dir = "prompts"\n', "utf-8")
    (root / "prompts" / "capitals.yaml").write_text(PROMPT, "utf-8")
    lines = [
        f"  - {{id: item-{i}, input: {{country: {country}}}, expected_output: {capital}}}"
        for i, (country, capital) in enumerate(items(n))
    ]
    (root / "prompts" / "datasets" / "capitals.yaml").write_text("items:\n" + "\n".join(lines) + "\n", "utf-8")
    identity = ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    for args in (["init", "-q"], ["add", "-A"], [*identity, "commit", "-q", "-m", "bench"]):
        subprocess.run(["git", *args], cwd=root, check=True)
    return root


def promptfoo_config(folder: Path, n: int) -> Path:
    """Write the anchor's promptfoo config: the same questions, echo provider, equals assertions."""
    path = folder / "promptfooconfig.yaml"
    tests = "".join(
        f"- vars:\n    question: What is the capital of {country}?\n  assert:\n  - type: equals\n    value: {capital}\n"
        for country, capital in items(n)
    )
    header = f"description: 'anchor: {n} capital questions, echo provider'\nprompts:\n- {PREFIX} {{{{question}}}}\n"
    path.write_text(header + "providers:\n- echo\ntests:\n" + tests, "utf-8")
    return path


def install_promptfoo(folder: Path) -> Path:
    """npm-install promptfoo into `folder` (never into the project) and return its executable."""
    subprocess.run(["npm", "init", "-y"], cwd=folder, check=True, capture_output=True)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", f"promptfoo@{PROMPTFOO_VERSION}"],
        cwd=folder, check=True, capture_output=True,
    )  # fmt: skip
    return folder / "node_modules" / ".bin" / "promptfoo"


def measure(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """Run a command; return (wall s, CPU s, peak RSS MiB) of the child, failing loudly if it fails."""
    ok = (0, 100) if "promptfoo" in command[0] else (0,)  # promptfoo exits 100 when assertions fail (echo: all)
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    err = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in ok:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{err.decode(errors='replace')}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def whole_processes(n: int, runs: int, promptfoo: Path | None) -> None:
    """Print (a): median wall, CPU and peak RSS of each command, and the ratios to promptfoo."""
    with tempfile.TemporaryDirectory(prefix="bench-experiment-") as tmp:
        folder = Path(tmp)
        project = promptops_project(folder, n)
        home = folder / "home"
        home.mkdir()
        env = {key: value for key, value in os.environ.items() if not key.startswith(("LANGFUSE_", "OPENAI_"))}
        # As an installed package runs: with its bytecode (this machine sets PYTHONDONTWRITEBYTECODE=1).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(HOME=str(home), PROMPTFOO_DISABLE_TELEMETRY="1", PROMPTFOO_DISABLE_UPDATE="1")
        promptops = [str(Path(sys.executable).with_name("promptops")), "--registry", "local", "experiment", "capitals"]
        validate = [str(Path(sys.executable).with_name("promptops")), "validate"]
        commands: dict[str, tuple[list[str], Path | None]] = {
            "promptops experiment, warm": (promptops, project),
            "promptops experiment, cold": (promptops, None),  # a fresh copy each run
            "promptops validate, cold": (validate, None),  # what cold adds: validating the files from scratch
        }
        if promptfoo is not None:
            config = promptfoo_config(folder, n)
            pf = [str(promptfoo), "eval", "-c", str(config), "--no-cache", "--max-concurrency", "32", "--no-write"]
            commands["promptfoo eval (echo)"] = (pf, folder)
        for command, cwd in commands.values():  # warm-ups: bytecode, caches, promptfoo's first-run setup
            measure(command, cwd or project, env)
        figures: dict[str, list[tuple[float, float, float]]] = {name: [] for name in commands}
        for run in range(runs):
            for index, (name, (command, cwd)) in enumerate(commands.items()):
                if cwd is None:
                    cwd = folder / f"cold-{run}-{index}"
                    shutil.copytree(project, cwd, ignore=shutil.ignore_patterns(".promptops"))
                figures[name].append(measure(command, cwd, env))
    medians = {name: tuple(statistics.median(f[i] for f in runs_) for i in range(3)) for name, runs_ in figures.items()}
    anchor = medians.get("promptfoo eval (echo)")
    print(f"\n(a) whole processes, {n} items, median of {runs} alternating runs")
    print(f"{'command':<30} {'wall':>9} {'CPU':>9} {'peak RSS':>10} {'wall ratio':>11} {'RSS ratio':>10}")
    for name, (wall, cpu, rss) in medians.items():
        ratios = f"{wall / anchor[0]:>10.2f}x {rss / anchor[2]:>9.2f}x" if anchor else ""
        print(f"{name:<30} {wall * 1000:>7.0f}ms {cpu * 1000:>7.0f}ms {rss:>7.1f}MiB {ratios}")
    if anchor is None:
        print("promptfoo not run: pass --promptfoo PATH or --install-promptfoo for the anchor")


def runner_cpu(n: int) -> None:
    """Print (b): CPU per item of promptops.runner.run at latency 0, without tracing and with LocalTracer."""
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_runner import dataset, spec, subject

    from promptops.runner import run
    from promptops.tracing import LocalTracer, NullTracer

    print(f"\n(b) runner CPU per item, {n} items, latency 0, concurrency 32 (median of 3)")
    with tempfile.TemporaryDirectory() as tmp:
        for label, make in (("no tracing", NullTracer), ("LocalTracer", lambda: LocalTracer(Path(tmp) / "runs.db"))):
            tracer = make()
            run(subject(), dataset(50), spec(32, 0), tracer=tracer)  # warm-up
            per_item = []
            for _ in range(3):
                started = time.process_time()
                run(subject(), dataset(n), spec(32, 0), tracer=tracer)
                per_item.append((time.process_time() - started) / n * 1000)
            print(f"{label:<12} {statistics.median(per_item):.3f} ms of CPU per item")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 runs each, 500 runner items")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--promptfoo", type=Path, help="promptfoo executable to compare with")
    parser.add_argument("--install-promptfoo", action="store_true", help=f"npm install promptfoo@{PROMPTFOO_VERSION}")
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="promptfoo-") as npm_folder:
        promptfoo = args.promptfoo
        if promptfoo is None and args.install_promptfoo:
            promptfoo = install_promptfoo(Path(npm_folder))
        whole_processes(200, 3 if args.quick else args.runs, promptfoo)
    runner_cpu(500 if args.quick else 2000)


if __name__ == "__main__":
    main()
