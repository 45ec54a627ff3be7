"""JUnit XML for CI test reporters (GitHub test-report actions, GitLab, Jenkins): one test case per prompt gate.

A prompt whose gate failed is a <failure> with the verdict's reason and checks; one that was not judged is
<skipped>; the items that failed or got worse are listed in the case's <system-out>, since reporters show it
beside the failure. Validation errors of `check` are one more case. Everything is masked like the PR comment:
CI test reports are as public as the log.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence

from promptops.evaluators.base import as_text
from promptops.runview import ItemRow, PromptView, RunView, showable
from promptops.sensitive import redact
from promptops.verdict import format_value

PREVIEW_CHARS = 500  # per value in system-out: enough to see the answer, short enough to scroll past
TextFn = Callable[[object], str]


def junit_xml(view: RunView, redact_patterns: Sequence[str] = ()) -> str:
    """Return the JUnit XML document of a command's outcome."""

    def text(value: object) -> str:
        return showable(redact(as_text(value), redact_patterns))

    suite_name = f"promptops {view.command}"
    suite = ET.Element("testsuite", name=suite_name)
    cases = [_validation_case(view, text)] if view.problems else []
    cases += [_prompt_case(view.command, p, text) for p in view.prompts]
    suite.extend(cases)
    totals = {
        "tests": len(cases),
        "failures": sum(c.find("failure") is not None for c in cases),
        "errors": 0,
        "skipped": sum(c.find("skipped") is not None for c in cases),
        "time": sum(float(c.get("time", "0")) for c in cases),
    }
    counts = {key: f"{value:.3f}" if key == "time" else str(value) for key, value in totals.items()}
    suite.attrib.update(counts)
    root = ET.Element("testsuites", {"name": suite_name, **counts})
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _validation_case(view: RunView, text: TextFn) -> ET.Element:
    case = ET.Element("testcase", name="validation", classname=f"promptops.{view.command}", time="0.000")
    lines = [f"{d.location()}: {d.severity}[{d.code}]: {d.message}" for d in view.problems]
    failure = ET.SubElement(case, "failure", message=text(view.summary), type="ValidationError")
    failure.text = text("\n".join(lines))
    return case


def _prompt_case(command: str, prompt: PromptView, text: TextFn) -> ET.Element:
    runs = [r for r in (prompt.runs.candidate, prompt.runs.baseline) if r is not None] if prompt.runs else []
    seconds = sum(i.latency_s or 0.0 for run in runs for i in run.items)  # what the items took, not wall time
    case = ET.Element("testcase", name=text(prompt.name), classname=f"promptops.{command}", time=f"{seconds:.3f}")
    if prompt.passed is None:
        why = f"{prompt.outcome}: {prompt.reason}" if prompt.reason else prompt.outcome
        ET.SubElement(case, "skipped", message=text(why))
    elif not prompt.passed:
        failure = ET.SubElement(case, "failure", message=text(prompt.reason or prompt.outcome), type="GateFailed")
        failure.text = text(_failure_body(prompt))
    shown = [r for r in prompt.items if r.status in ("failed", "regressed")]
    if shown:
        ET.SubElement(case, "system-out").text = text("\n\n".join(_item_lines(r, prompt.primary) for r in shown))
    return case


def _failure_body(prompt: PromptView) -> str:
    lines = [f"{prompt.name}: {prompt.outcome}", prompt.reason]
    if prompt.verdict is not None:
        lines += ["", "checks:"]
        lines += [f"  {'✓' if c.passed else '✗'} {c.kind}: {c.message}" for c in prompt.verdict.checks]
        lines += ["", "metric: baseline → candidate (delta)"]
        for m in prompt.verdict.metrics:
            delta = format_value(m.delta, signed=True)
            lines.append(f"  {m.name}: {format_value(m.baseline)} → {format_value(m.candidate)} ({delta})")
    return "\n".join(lines)


def _item_lines(row: ItemRow, primary: str | None) -> str:
    change = ""
    if primary is not None and row.delta is not None:
        change = f" ({primary} {format_value(row.delta, signed=True)})"
    lines = [f"{row.status}: {row.key}{change}", f"  input:     {_cut(row.candidate.input)}"]
    lines.append(f"  expected:  {_cut(row.candidate.expected_output)}")
    if row.baseline is not None:
        lines.append(f"  baseline:  {_cut(row.baseline.error or row.baseline.output)}")
    label = "error:    " if row.candidate.failed else "candidate:"
    lines.append(f"  {label} {_cut(row.candidate.error or row.candidate.output)}")
    return "\n".join(lines)


def _cut(value: object) -> str:
    # Item inputs may be read-only mappings, which as_text's json would otherwise print as their repr.
    shown = " ".join(as_text(dict(value) if isinstance(value, Mapping) else value).split())
    return shown if len(shown) <= PREVIEW_CHARS else shown[:PREVIEW_CHARS] + "…"
