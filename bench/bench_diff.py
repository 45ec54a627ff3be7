"""Benchmark `diff` on 1,000 prompts with 10 changed: requests and wall time against Langfuse, next to the naive loop.

Run by hand from the repository root: `.venv/bin/python bench/bench_diff.py` (`--prompts 200` for a smoke run).
The Langfuse side is the in-process test double with 20 ms latency per request, reached through the real SDK;
requests are counted from the double's request log. Every prompt has version 1 in production, made by promptops;
git then changes 10 of them. The naive loop is `langfuse.get_prompt(name, label="latest")` over every name, in the
same run. The same diff also runs against the local SQLite registry.

The double runs in this process and checks every answer against the OpenAPI contract (~25 ms of CPU per page of
100 prompts, under the same GIL as the client). A real server does that work elsewhere, so the timed runs switch
the double's self-checks off (`--contract-checks` keeps them, for comparison).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.langfuse_double, which is not an installed package

from promptops import api  # noqa: E402
from promptops.cachefile import SignedJson  # noqa: E402
from promptops.model import RenderedPrompt  # noqa: E402
from promptops.registry.base import PROVENANCE_KEY, Provenance, Registry  # noqa: E402
from promptops.registry.labels import PRODUCTION, content_label  # noqa: E402
from promptops.registry.langfuse import LangfuseRegistry  # noqa: E402
from promptops.registry.local import LocalRegistry  # noqa: E402
from tests.langfuse_double.server import LangfuseDouble  # noqa: E402

LATENCY_S = 0.020
CHANGED = 10
COMMIT = "0" * 40
PROMPT = """\
prompt: |
  You are assistant number {n} of team {team}.
  Answer the question about {{{{ topic }}}} in one sentence.
variables:
  topic:
    description: What the user asks about.
config:
  temperature: 0
tags: [bench]
"""
T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """Return fn's result and its wall time in seconds."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def make_repo(root: Path, count: int) -> api.Settings:
    """Write `count` prompts in ten folders (Langfuse folder names) and return the project's settings."""
    (root / "promptops.yaml").write_text("prompts_dir: prompts\nrequire_experiment: false\n", "utf-8")
    for n in range(count):
        path = root / "prompts" / f"team-{n % 10}" / f"assistant-{n:04}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(PROMPT.format(n=n, team=n % 10), "utf-8")
    return api.load_settings(root, registry="local")


def rendered_prompts(settings: api.Settings) -> list[RenderedPrompt]:
    """Render every prompt as push would store it."""
    from promptops import render

    project = api.valid_project(settings)
    return [render.render(spec, project.prompts_root, project.root) for spec in project.prompts]


def change_some(settings: api.Settings, total: int, count: int) -> list[str]:
    """Edit `count` of the `total` prompt files, spread over the project; return their names."""
    names = []
    for n in range(0, total, max(1, total // count))[:count]:
        path = settings.prompts_root / f"team-{n % 10}" / f"assistant-{n:04}.yaml"
        path.write_text(path.read_text("utf-8").replace("one sentence", "two sentences"), "utf-8")
        names.append(f"team-{n % 10}/assistant-{n:04}")
    return names


def seed_double(double: LangfuseDouble, prompts: list[RenderedPrompt]) -> None:
    """Store version 1 of every prompt in production, as promptops would have created it (setup, not timed)."""
    for r in prompts:
        config = {**r.config, PROVENANCE_KEY: Provenance(r.content_hash, COMMIT, r.source_path, 1).to_config()}
        double.store.create_prompt_version(
            r.name, str(r.prompt), labels=[PRODUCTION, content_label(r.content_hash)], tags=list(r.tags),
            config=config, created_by="API",
        )


def seed_local(registry: LocalRegistry, prompts: list[RenderedPrompt]) -> None:
    """Create version 1 of every prompt in production through the registry."""
    for r in prompts:
        registry.create_version(
            r, Provenance(r.content_hash, COMMIT, r.source_path, 1), labels=[PRODUCTION], commit_message="bench"
        )


def diff_once(settings: api.Settings, registry: Registry) -> dict[str, Any]:
    """Run api.diff and summarise what it found."""
    result, seconds = timed(lambda: api.diff(settings, registry=registry))
    statuses: dict[str, int] = {}
    for p in result.prompts:
        statuses[p.plan.status] = statuses.get(p.plan.status, 0) + 1
    with_text = sum(bool(p.text_diff) for p in result.prompts)
    return {"seconds": round(seconds, 3), "statuses": statuses, "text_diffs": with_text}


class NoContractChecks:
    """Stands in for the double's contract validator: accepts every request and answer."""

    def request_issues(self, operation: str, body: Any) -> list[Any]:
        """Report no problems."""
        return []

    def response_problems(self, operation: str, status: int, body: Any) -> list[str]:
        """Report no problems."""
        return []


def bench_langfuse(settings: api.Settings, prompts: list[RenderedPrompt], checks: bool) -> dict[str, Any]:
    """Diff against the double at 20 ms per request, then the naive get_prompt loop, counting requests."""
    with LangfuseDouble() as double:
        if not checks:
            double.engine.contract = NoContractChecks()  # type: ignore[assignment]
        seed_double(double, prompts)
        registry = LangfuseRegistry(double.public_key, double.secret_key, double.base_url)
        double.set_latency(LATENCY_S)
        double.log.clear()
        diff = diff_once(replace(settings, cache=False), registry)  # cold: no cache of any kind
        diff["requests"] = len(double.requests())
        diff["list_requests"] = len(double.requests("GET", "/api/public/v2/prompts"))
        cache = SignedJson(settings.root / ".promptops" / "cache" / "langfuse-bench.json", "langfuse-state")
        warm = LangfuseRegistry(double.public_key, double.secret_key, double.base_url, cache=cache)
        diff_once(settings, warm)  # fills both caches (validation, registry state), untimed
        warm.close()  # writes the registry cache, as the end of a command does
        again = LangfuseRegistry(double.public_key, double.secret_key, double.base_url, cache=cache)
        double.log.clear()
        diff_warm = diff_once(settings, again)  # the next command: nothing changed in git or in the registry since
        diff_warm["requests"] = len(double.requests())
        again.close()
        double.log.clear()
        states, listing = timed(registry.list_prompts)
        registry_only = {"seconds": round(listing, 3), "requests": len(double.requests()), "prompts": len(states)}
        double.log.clear()
        client = double.client()
        _, naive = timed(lambda: [client.get_prompt(r.name, label="latest") for r in prompts])
        naive_result = {"seconds": round(naive, 3), "requests": len(double.requests())}
        registry.close()
    return {
        "diff": diff,
        "diff_warm_cache": diff_warm,
        "list_prompts_only": registry_only,
        "naive_get_prompt_loop": naive_result,
    }


def bench_local(settings: api.Settings, prompts: list[RenderedPrompt], folder: Path) -> dict[str, Any]:
    """Diff against the SQLite registry."""
    registry = LocalRegistry(folder / "registry.db")
    seed_local(registry, prompts)
    diff = diff_once(settings, registry)
    _, listing = timed(registry.list_prompts)
    registry.close()
    return {"diff": diff, "list_prompts_only": {"seconds": round(listing, 3)}}


def machine() -> dict[str, Any]:
    """Describe where the numbers came from."""
    cpu = platform.processor() or ""
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines()
            if line.startswith("Model name")
        )
    except (OSError, StopIteration, subprocess.CalledProcessError):
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }


def main() -> None:
    """Run both benchmarks and print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=1000, help="number of prompts (default 1000)")
    parser.add_argument("--contract-checks", action="store_true", help="keep the double's OpenAPI self-checks on")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_repo(Path(tmp), args.prompts)
        prompts = rendered_prompts(settings)
        changed = change_some(settings, args.prompts, CHANGED)
        _, validate_seconds = timed(lambda: api.valid_project(settings))
        _, render_seconds = timed(lambda: rendered_prompts(settings))
        figures: dict[str, Any] = {
            "machine": machine(),
            "prompts": len(prompts),
            "changed": len(changed),
            "latency_ms": LATENCY_S * 1000,
            "double_contract_checks": args.contract_checks,
            "validate_seconds": round(validate_seconds, 3),
            "validate_and_render_seconds": round(render_seconds, 3),
            "langfuse": bench_langfuse(settings, prompts, args.contract_checks),
            "local": bench_local(settings, prompts, Path(tmp)),
        }
    lf = figures["langfuse"]
    lf["speedup_diff_vs_naive"] = round(lf["naive_get_prompt_loop"]["seconds"] / lf["diff"]["seconds"], 1)
    lf["speedup_warm_diff_vs_naive"] = round(
        lf["naive_get_prompt_loop"]["seconds"] / lf["diff_warm_cache"]["seconds"], 1
    )
    lf["speedup_listing_vs_naive"] = round(
        lf["naive_get_prompt_loop"]["seconds"] / lf["list_prompts_only"]["seconds"], 1
    )
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
