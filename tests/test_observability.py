"""The seed's pipeline end to end against the Langfuse double: spans, links, attributes, scores, redaction, flush.

Known sensitive values go into a copy of the example repository: personal data in a dataset item's input
and metadata and in a knowledge-base article, and a configured pattern (`ACME-\\d{6}`). Credentials cannot
be in the repository's files at all (validation refuses them), so they arrive at run time from a custom
retriever, as they would from a real document store. Every test runs with `flush_interval: 60` and a
batch size larger than any run, so only the explicit flush at the end of a command delivers anything.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from promptops.config import load_config
from promptops.model import KnowledgeDoc, TracingConfig
from promptops.tasks.rag import overlap_retriever
from promptops.tracing.langfuse import client_options
from tests.helpers import EXAMPLE_PROMPTS as EXAMPLES
from tests.helpers import git, git_init, make_project, run_cli
from tests.langfuse_double.server import LangfuseDouble
from tests.langfuse_double.spans import Span

EMAIL, PHONE, CARD, CUSTOMER = "jane.doe@example.com", "+1 415 555 0100", "4111 1111 1111 1111", "ACME-123456"
KB_EMAIL, KB_PHONE, KB_CASE = "refunds-team@acme.example", "+1 415 555 0199", "ACME-654321"
LANGFUSE_KEY, GITHUB_TOKEN = "sk-lf-0a1b2c3d4e5f6a7b", "ghp_" + "x" * 36  # fakes, built so no scanner trips
SENSITIVE = (EMAIL, PHONE, CARD, CUSTOMER, KB_EMAIL, KB_PHONE, KB_CASE, LANGFUSE_KEY, GITHUB_TOKEN)
MASKS = ("[REDACTED email]", "[REDACTED phone]", "[REDACTED card]", "[REDACTED]")
CREDENTIAL_MASKS = ("[REDACTED Langfuse secret key]", "[REDACTED GitHub token]")

QUESTION = 'question: "How many days do I have to ask for a refund?"'
RISKY_QUESTION = (
    f'question: "I am {EMAIL}, call me on {PHONE}, card {CARD}, customer {CUSTOMER}. '
    'How many days do I have to ask for a refund?"'
)
ARTICLE = "Refunds are available within 30 days of purchase."
RISKY_ARTICLE = f"{ARTICLE} Questions go to {KB_EMAIL} or {KB_PHONE}, case {KB_CASE}."
NAMES = ["experiment-item", "retrieve", "rank", "prompt-managed-call"]
FLUSH_ONLY = "tracing:\n  flush_at: 2048\n  flush_interval: 60\n"


def retrieve_with_credentials(question: str, knowledge_base: Sequence[KnowledgeDoc]) -> list[KnowledgeDoc]:
    """The default retriever's documents, after one whose title and text carry credentials."""
    vault = KnowledgeDoc("kb-vault", f"Refund days: key {LANGFUSE_KEY}, token {GITHUB_TOKEN}.", f"Vault {LANGFUSE_KEY}")
    return [vault, *overlap_retriever(question, knowledge_base)]


def project(root: Path, tracing: str = FLUSH_ONLY) -> Path:
    """Copy the examples to `root` with the sensitive values in, commit them, and return root."""
    make_project(root, examples=True)
    (root / "promptops.yaml").write_text(f"prompts_dir: prompts\nredact:\n  patterns: ['ACME-\\d{{6}}']\n{tracing}")
    dataset = root / "prompts" / "datasets" / "support-faq.yaml"
    text = dataset.read_text().replace(QUESTION, RISKY_QUESTION).replace(ARTICLE, RISKY_ARTICLE)
    risky_metadata = f"metadata: {{user_id: {EMAIL}, session_id: {CUSTOMER}, callback: '{PHONE}'}}"
    dataset.write_text(text.replace("metadata: {user_id: u-101, session_id: s-1}", risky_metadata))
    prompt = root / "prompts" / "support-agent.yaml"
    retriever = "  task: rag\n  retriever: tests.test_observability:retrieve_with_credentials\n"
    prompt.write_text(prompt.read_text().replace("  task: rag\n", retriever))
    git_init(root)
    return root


@pytest.fixture
def repo(tmp_path: Path, langfuse_double: LangfuseDouble, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sensitive repository, registry and traces in the double, as the current folder."""
    for key, value in langfuse_double.env.items():
        monkeypatch.setenv(key, value)
    root = project(tmp_path / "repo")
    monkeypatch.chdir(root)
    return root


def cli_json(capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> Any:
    """Run promptops with --json (or --format json) and return the parsed stdout."""
    result = run_cli(capsys, *args)
    assert result.code == code, result.err
    return json.loads(result.out)


def received(double: LangfuseDouble) -> str:
    """Return everything the double received as one text: paths, queries, JSON bodies and decoded spans."""
    parts = []
    for request in double.requests():
        parts += [request.path, json.dumps(request.query)]
        if not isinstance(request.body, bytes):  # OTLP protobuf: its decoded spans follow
            parts.append(json.dumps(request.body, ensure_ascii=False))
    for s in double.spans():
        fields = [s.name, s.attributes, s.resource_attributes, s.scope_attributes, s.status_message, s.events]
        parts.append(json.dumps(fields, ensure_ascii=False, default=str))
    return "\n".join(parts)


def traces_of_run(double: LangfuseDouble, run_id: str) -> dict[str, dict[str, Span]]:
    """Return the run's traces by dataset item id, each as spans by name."""
    traces: dict[str, dict[str, Span]] = defaultdict(dict)
    for span in double.spans():
        if span.attributes.get("langfuse.experiment.id") == run_id:
            traces[span.attributes["langfuse.experiment.item.id"]][span.name] = span
    return traces


def test_each_item_is_one_trace_with_the_seeds_spans_prompt_link_attributes_and_scores(
    repo: Path, capsys: pytest.CaptureFixture[str], langfuse_double: LangfuseDouble
) -> None:
    assert cli_json(capsys, "sync", "--json")["prompts"][1]["outcome"] == "promoted"
    result = cli_json(capsys, "experiment", "support-agent", "--label", "production", "--json")
    traces = traces_of_run(langfuse_double, result["run_id"])
    items = {item["id"]: item for item in result["items"]}
    assert sorted(traces) == sorted(items) and len(items) == 9
    commit = git(repo, "rev-parse", "HEAD").strip()
    scores: dict[str, dict[str, tuple[Any, str]]] = defaultdict(dict)
    for score in langfuse_double.scores():
        scores[score.get("traceId", "")][score["name"]] = (score["value"], score["dataType"])
    for item_id, spans in traces.items():
        assert sorted(spans) == sorted(NAMES)
        root = spans["experiment-item"]
        assert len(langfuse_double.spans(root.trace_id)) == 4
        assert [spans[name].parent_span_id for name in NAMES] == [None, root.span_id, root.span_id, root.span_id]
        generation = spans["prompt-managed-call"]
        assert generation.observation_type == "generation"
        assert generation.attributes["langfuse.observation.prompt.name"] == "support-agent"
        assert generation.attributes["langfuse.observation.prompt.version"] == 1
        number = item_id != "refund-window" and int(root.attributes["user.id"].removeprefix("u-1"))
        user, session = ("[REDACTED email]", "[REDACTED]") if number is False else (f"u-1{number:02d}", f"s-{number}")
        for span in spans.values():
            attributes = span.attributes
            assert (attributes["user.id"], attributes["session.id"]) == (user, session)
            assert attributes["langfuse.trace.tags"] == ["promptops", "prompt:support-agent", "dataset:support-faq"]
            assert attributes["langfuse.trace.metadata.git_commit"] == json.dumps(commit)
            assert attributes["langfuse.trace.metadata.run"] == json.dumps(result["run_id"])
            assert json.loads(attributes["langfuse.trace.metadata.experiment"]).startswith("support-agent - version 1")
        expected = items[item_id]["scores"]
        assert scores[root.trace_id] == {
            "groundedness": (expected["groundedness"], "NUMERIC"),
            "user_feedback": (expected["user_feedback"], "CATEGORICAL"),
            "resolved": (float(expected["resolved"]), "BOOLEAN"),
        }


def test_no_sensitive_value_reaches_langfuse_or_the_report(
    repo: Path, capsys: pytest.CaptureFixture[str], langfuse_double: LangfuseDouble, tmp_path: Path
) -> None:
    cli_json(capsys, "sync", "--json")
    cli_json(capsys, "experiment", "support-agent", "--json")
    git(repo, "checkout", "-qb", "ungrounded")
    prompt = repo / "prompts" / "support-agent.yaml"
    prompt.write_text(prompt.read_text().replace('{% include "_partials/grounding.jinja" %}', ""))
    git(repo, "commit", "-qam", "Drop the grounding rule")
    report = tmp_path / "report.md"
    check = cli_json(capsys, "check", "--record", "--report", str(report), "--format", "json", code=1)
    worse = [w["item_id"] for w in check["prompts"][0]["verdict"]["worse_items"]]
    assert "refund-window" in worse  # so the report shows the item that carries the values
    text, markdown = received(langfuse_double), report.read_text()
    assert [value for value in SENSITIVE if value in text or value in markdown] == []
    assert all(mask in text for mask in MASKS + CREDENTIAL_MASKS)
    assert all(mask in markdown for mask in MASKS)
    item = next(i for i in langfuse_double.dataset_items("support-faq") if i["id"] == "refund-window")
    assert item["input"]["question"] == (
        "I am [REDACTED email], call me on [REDACTED phone], card [REDACTED card], customer [REDACTED]. "
        "How many days do I have to ask for a refund?"
    )
    assert item["metadata"] == {
        "user_id": "[REDACTED email]",
        "session_id": "[REDACTED]",
        "callback": "[REDACTED phone]",
    }


def test_redacted_dataset_items_are_uploaded_once(
    repo: Path, capsys: pytest.CaptureFixture[str], langfuse_double: LangfuseDouble
) -> None:
    first = cli_json(capsys, "push", "--json")
    again = cli_json(capsys, "push", "--json")
    written = [(d["name"], d["upserted"], d["unchanged"]) for d in (*first["datasets"], *again["datasets"])]
    assert written == [("capital-cities-tutorial", 10, 0), ("support-faq", 9, 0)] + [
        ("capital-cities-tutorial", 0, 10),
        ("support-faq", 0, 9),
    ]


def test_no_sensitive_value_is_printed(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    printed = [run_cli(capsys, "experiment", "support-agent"), run_cli(capsys, "experiment", "support-agent", "--json")]
    git(repo, "checkout", "-qb", "ungrounded")
    prompt = repo / "prompts" / "support-agent.yaml"
    prompt.write_text(prompt.read_text().replace('{% include "_partials/grounding.jinja" %}', ""))
    git(repo, "commit", "-qam", "Drop the grounding rule")
    printed += [run_cli(capsys, "check"), run_cli(capsys, "check", "--format", "json")]
    assert [(i, v) for i, r in enumerate(printed) for v in SENSITIVE if v in r.out + r.err] == []


def test_everything_is_delivered_by_the_flush_before_the_command_returns(
    repo: Path, capsys: pytest.CaptureFixture[str], langfuse_double: LangfuseDouble
) -> None:
    result = cli_json(capsys, "experiment", "support-agent", "--json")
    assert len(traces_of_run(langfuse_double, result["run_id"])) == 9
    assert len(langfuse_double.spans()) == 9 * 4
    assert len([s for s in langfuse_double.scores() if "traceId" in s]) == 9 * 3
    assert sorted(s["name"] for s in langfuse_double.scores() if s.get("datasetRunId") == result["run_id"]) == [
        "error_rate", "latency_p50", "latency_p95", "mean_groundedness", "mean_resolved", "mean_user_feedback",
    ]  # fmt: skip


def test_sampling_everything_out_sends_no_trace_and_changes_no_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], langfuse_double: LangfuseDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project(tmp_path / "repo", FLUSH_ONLY + "  sample_rate: 0\n"))
    local = cli_json(capsys, "--registry", "local", "experiment", "support-agent", "--json")
    for key, value in langfuse_double.env.items():
        monkeypatch.setenv(key, value)
    rows = cli_json(capsys, "sync", "--json")["prompts"]
    assert [(r["name"], r["outcome"]) for r in rows] == [("capital-cities", "promoted"), ("support-agent", "promoted")]
    sampled = cli_json(capsys, "experiment", "support-agent", "--json")
    assert langfuse_double.spans() == []
    assert [s for s in langfuse_double.scores() if "traceId" in s] == []
    assert [i["scores"] for i in sampled["items"]] == [i["scores"] for i in local["items"]]
    unmeasured = ("latency_p50", "latency_p95")
    assert {k: v for k, v in sampled["metrics"].items() if k not in unmeasured} == {
        k: v for k, v in local["metrics"].items() if k not in unmeasured
    }


def test_spans_go_out_in_batches_of_64_unless_the_config_or_the_environment_sets_the_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], langfuse_double: LangfuseDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in langfuse_double.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("LANGFUSE_FLUSH_AT", raising=False)
    countries = "".join(f"  - {{id: c{i}, input: {{country: C{i}}}, expected_output: X{i}}}\n" for i in range(40))
    files = {
        "promptops.yaml": "prompts_dir: prompts\ntracing:\n  flush_interval: 60\n",
        "prompts/capital-cities.yaml": (EXAMPLES / "capital-cities.yaml").read_text(),
        "prompts/datasets/capital-cities-tutorial.yaml": f"items:\n{countries}",
    }
    root = make_project(tmp_path / "repo", files)
    git_init(root)
    monkeypatch.chdir(root)
    result = cli_json(capsys, "experiment", "capital-cities", "--json")
    assert len(traces_of_run(langfuse_double, result["run_id"])) == 40
    exports = langfuse_double.requests("POST", "/api/public/otel/v1/traces")
    assert (len(langfuse_double.spans()), len(exports)) == (40 * 2, 2)  # 64 + 16 (the SDK alone: one of 80)
    assert client_options(TracingConfig()) == {"flush_at": 64}
    assert client_options(TracingConfig(flush_at=512)) == {"flush_at": 512}
    monkeypatch.setenv("LANGFUSE_FLUSH_AT", "200")
    assert client_options(TracingConfig()) == {}  # the SDK reads the environment's size itself


@pytest.mark.parametrize(
    ("variable", "value", "what"),
    [
        ("LANGFUSE_FLUSH_AT", "abc", "a whole number of spans from 1 to 2048"),
        ("LANGFUSE_FLUSH_AT", "", "a whole number of spans from 1 to 2048"),
        ("LANGFUSE_FLUSH_AT", "4096", "a whole number of spans from 1 to 2048"),
        ("LANGFUSE_FLUSH_INTERVAL", "0", "a number of seconds above 0"),
        ("LANGFUSE_SAMPLE_RATE", "1.5", "a share of traces from 0 to 1"),
    ],
)
def test_a_tracing_variable_the_sdk_cannot_use_is_named_and_nothing_is_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], langfuse_double: LangfuseDouble,
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, what: str,
) -> None:  # fmt: skip
    for key, setting in langfuse_double.env.items():
        monkeypatch.setenv(key, setting)
    monkeypatch.setenv(variable, value)
    root = make_project(tmp_path / "repo", examples=True)
    git_init(root)
    monkeypatch.chdir(root)
    result = run_cli(capsys, "diff")
    setting = variable.removeprefix("LANGFUSE_").lower()  # flush_at, flush_interval, sample_rate
    assert (result.code, result.err) == (
        1, f"error: {variable}={value!r} is not {what}: correct or unset it (or set tracing.{setting} in the config)\n"
    )  # fmt: skip
    assert langfuse_double.requests() == []
    (root / "promptops.yaml").write_text(f"prompts_dir: prompts\ntracing:\n  {setting}: 1\n")  # the config wins
    assert run_cli(capsys, "diff").code == 2  # changes pending: both prompts are new to the registry


def test_the_tracing_settings_are_read_and_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_project(tmp_path / "ok")
    (root / "promptops.yaml").write_text("tracing:\n  sample_rate: 0.25\n  flush_at: 100\n  flush_interval: 2.5\n")
    assert load_config(root).tracing == TracingConfig(sample_rate=0.25, flush_at=100, flush_interval=2.5)
    assert load_config(make_project(tmp_path / "default")).tracing == TracingConfig()
    bad = make_project(tmp_path / "bad")
    (bad / "promptops.yaml").write_text("tracing:\n  sample_rate: 1.5\n  flush_at: 4096\n")
    result = run_cli(capsys, "--project", str(bad), "validate")
    assert result.code == 1
    assert result.err.splitlines()[1:] == [
        "  promptops.yaml: tracing.flush_at: 4096 is greater than the maximum of 2048",
        "  promptops.yaml: tracing.sample_rate: 1.5 is greater than the maximum of 1",
    ]
