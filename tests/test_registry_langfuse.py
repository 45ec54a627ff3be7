"""What only the Langfuse registry has: settings from the environment, request counts, injected faults (no
duplicate version when an answer is lost, Retry-After honoured) and one-line errors that never show the secret.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from promptops.errors import ConfigError, RegistryError
from promptops.model import DatasetSpec, ProjectConfig
from promptops.registry.labels import content_label
from promptops.registry.langfuse import LangfuseRegistry, open_langfuse
from tests.langfuse_double.server import LangfuseDouble
from tests.test_registry_contract import FR, GREETING, JP, create, dataset, mark, provenance, rendered

PROMPTS = "/api/public/v2/prompts"


class Sleeps(list[float]):
    """Records the waits the registry asks for instead of waiting (no timing in tests)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    """Return the recorder the registry sleeps through."""
    return Sleeps()


@pytest.fixture
def reg(langfuse_double: LangfuseDouble, sleeps: Sleeps) -> Iterator[LangfuseRegistry]:
    """Yield a registry on the double that records its backoff waits."""
    d = langfuse_double
    registry = LangfuseRegistry(d.public_key, d.secret_key, d.base_url, timeout=5, sleep=sleeps)
    yield registry
    registry.close()


def calls(double: LangfuseDouble) -> list[tuple[str, str, int | None]]:
    """Return (method, path, status) of every request so far."""
    return [(r.method, r.path, r.status) for r in double.requests()]


# -- settings -----------------------------------------------------------------------------------


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, langfuse_double: LangfuseDouble) -> None:
    for key, value in langfuse_double.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("LANGFUSE_HOST", "http://old-style.invalid")
    registry = open_langfuse(Path("."), ProjectConfig())
    assert (registry.host, registry.calls.timeout) == (langfuse_double.base_url, 10.0)
    key = langfuse_double.public_key
    assert registry.describe() == f"Langfuse at {langfuse_double.base_url} (project keys pk-lf-…{key[-4:]})"
    assert langfuse_double.secret_key not in registry.describe()
    assert registry.client.api is not None  # the tracer reuses this client


def test_langfuse_host_is_the_fallback_and_timeout_is_read(
    monkeypatch: pytest.MonkeyPatch, langfuse_double: LangfuseDouble
) -> None:
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", "pk-lf-host-fallback")
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk-lf-host-fallback")
    monkeypatch.delenv("LANGFUSE_BASE_URL", raising=False)
    monkeypatch.setenv("LANGFUSE_HOST", langfuse_double.base_url + "/")
    monkeypatch.setenv("LANGFUSE_TIMEOUT", "2.5")
    registry = open_langfuse(Path("."), ProjectConfig())
    assert (registry.host, registry.calls.timeout) == (langfuse_double.base_url, 2.5)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"LANGFUSE_SECRET_KEY": "sk-lf-x"},
            "the langfuse registry needs LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY (a project's API keys); "
            "set both, or use --registry local",
        ),
        (
            {"LANGFUSE_PUBLIC_KEY": "pk-lf-x", "LANGFUSE_SECRET_KEY": "sk-lf-x", "LANGFUSE_TIMEOUT": "soon"},
            "LANGFUSE_TIMEOUT must be a positive number of seconds, not 'soon'",
        ),
    ],
)
def test_missing_keys_and_a_bad_timeout_are_config_errors(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for key in ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "LANGFUSE_TIMEOUT"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as err:
        open_langfuse(Path("."), ProjectConfig())
    assert str(err.value) == message


def test_one_public_key_cannot_point_at_two_hosts_or_secrets(langfuse_double: LangfuseDouble) -> None:
    d = langfuse_double
    LangfuseRegistry(d.public_key, d.secret_key, d.base_url)
    for host, secret in (("http://127.0.0.1:9", d.secret_key), (d.base_url, "sk-lf-another")):
        with pytest.raises(RegistryError) as err:
            LangfuseRegistry(d.public_key, secret, host)
        assert str(err.value).startswith(f"this process already uses Langfuse key pk-lf-…{d.public_key[-4:]} with ")
        assert d.secret_key not in str(err.value) and "sk-lf-another" not in str(err.value)


# -- request economy ----------------------------------------------------------------------------


def test_list_prompts_reads_one_listing_of_100_per_page_and_production_where_a_prompt_has_versions(
    langfuse_double: LangfuseDouble, reg: LangfuseRegistry
) -> None:
    def listed() -> list[tuple[str, str, str]]:
        found = [(r.query.get("label", ["(all)"])[0], r.query["page"][0], r.query["limit"][0]) for r in
                 langfuse_double.requests()]  # fmt: skip
        langfuse_double.log.clear()
        return sorted(found)

    def expected(pages: dict[str, int]) -> list[tuple[str, str, str]]:
        return sorted((label, str(n), "100") for label, last in pages.items() for n in range(1, last + 1))

    for n in range(250):
        langfuse_double.store.create_prompt_version(f"p{n:03}", "text", labels=["production"] if n % 2 else [])
    langfuse_double.log.clear()
    states = reg.list_prompts()
    assert len(states) == 250 and sum(s.production_version == 1 for s in states) == 125
    assert listed() == expected({"(all)": 3})  # one version each: it holds every label, production's too
    for n in range(0, 250, 2):  # a second version of the 125 prompts without production
        langfuse_double.store.create_prompt_version(f"p{n:03}", "text 2", labels=["production"] if n % 4 else [])
    states = reg.list_prompts()
    versions = [s.production_version for s in states]
    assert (versions.count(1), versions.count(2), versions.count(None)) == (125, 62, 63)
    assert listed() == expected({"(all)": 3, "production": 2})  # 125 prompts with versions: where is production?


def test_folder_names_are_sent_as_one_encoded_path_segment(
    langfuse_double: LangfuseDouble, reg: LangfuseRegistry
) -> None:
    v = create(reg, rendered("support/agent"))
    reg.set_labels("support/agent", v.version, ["production"])
    assert reg.get_version("support/agent").version == 1
    paths = {r.path for r in langfuse_double.requests() if r.method in ("GET", "PATCH") and "agent" in r.path}
    assert paths == {f"{PROMPTS}/support%2Fagent", f"{PROMPTS}/support%2Fagent/versions/1"}


def test_creating_what_exists_already_sends_no_write(langfuse_double: LangfuseDouble, reg: LangfuseRegistry) -> None:
    r = rendered("greeting")
    create(reg, r)
    langfuse_double.log.clear()
    assert create(reg, r).version == 1
    # the newest version, then the version with this content's label: found, nothing written
    assert calls(langfuse_double) == [("GET", f"{PROMPTS}/greeting", 200), ("GET", f"{PROMPTS}/greeting", 200)]


# -- faults -------------------------------------------------------------------------------------


def test_a_500_before_the_write_is_retried_once(
    langfuse_double: LangfuseDouble, reg: LangfuseRegistry, sleeps: Sleeps
) -> None:
    langfuse_double.fail_next("POST", PROMPTS, 500)
    v = create(reg, rendered("greeting"))
    assert v.version == 1 and [p["version"] for p in langfuse_double.prompts("greeting")] == [1]
    # Before each attempt: is the content stored already (by label), and what is the newest version?
    assert calls(langfuse_double) == [
        ("GET", f"{PROMPTS}/greeting", 404),
        ("GET", f"{PROMPTS}/greeting", 404),
        ("POST", PROMPTS, 500),
        ("GET", f"{PROMPTS}/greeting", 404),
        ("GET", f"{PROMPTS}/greeting", 404),
        ("POST", PROMPTS, 201),
    ]
    assert len(sleeps) == 1


@pytest.mark.parametrize("status", [None, 502])
def test_a_write_applied_with_its_answer_lost_is_found_not_repeated(
    langfuse_double: LangfuseDouble, reg: LangfuseRegistry, status: int | None
) -> None:
    langfuse_double.lose_response("POST", PROMPTS, status=status)  # None: the connection drops, no answer at all
    r = rendered("greeting")
    v = reg.create_version(r, provenance(r), labels=["staging"], commit_message="one")
    assert (v.version, v.labels, v.made_by_promptops) == (1, (content_label(r.content_hash), "staging", "latest"), True)
    assert [p["version"] for p in langfuse_double.prompts("greeting")] == [1]
    assert calls(langfuse_double) == [
        ("GET", f"{PROMPTS}/greeting", 404),
        ("GET", f"{PROMPTS}/greeting", 404),
        ("POST", PROMPTS, status),
        ("GET", f"{PROMPTS}/greeting", 200),
        ("GET", f"{PROMPTS}/greeting", 200),  # the retry finds the content by its label
    ]


def test_concurrent_creates_clashing_on_the_unique_constraint_are_retried(
    langfuse_double: LangfuseDouble, reg: LangfuseRegistry, sleeps: Sleeps
) -> None:
    clash = "Failed to create prompt 'greeting' due to unique constraint failure. Please add a delay."
    langfuse_double.fail_next("POST", PROMPTS, 400, body={"message": clash, "error": "InvalidRequestError"})
    assert create(reg, rendered("greeting")).version == 1
    assert [r.status for r in langfuse_double.requests("POST")] == [400, 201] and len(sleeps) == 1


def test_a_rejected_create_is_not_retried_and_says_why(langfuse_double: LangfuseDouble, reg: LangfuseRegistry) -> None:
    with pytest.raises(RegistryError) as err:
        create(reg, rendered("greeting"), labels=("Bad Label",))
    assert str(err.value) == (
        f"Langfuse at {langfuse_double.base_url} answered 400 while creating a version of greeting: Invalid request "
        "data (labels.1: Label must be lowercase alphanumeric with optional underscores, hyphens, or periods)"
    )
    assert len(langfuse_double.requests("POST")) == 1
    langfuse_double.take_violations()  # the double records the bad body as a contract violation, on purpose


def test_429_waits_as_long_as_retry_after_says(
    langfuse_double: LangfuseDouble, reg: LangfuseRegistry, sleeps: Sleeps
) -> None:
    create(reg, rendered("greeting"))
    langfuse_double.fail_next("GET", PROMPTS, 429, retry_after=7)
    langfuse_double.fail_next("PATCH", f"{PROMPTS}/greeting/versions/1", 429, retry_after=3)
    assert [s.latest_version for s in reg.list_prompts()] == [1]
    assert reg.set_labels("greeting", 1, ["production"]).labels == (mark(GREETING), "latest", "production")
    assert sleeps == [7.0, 3.0]


def test_a_server_that_keeps_failing_is_a_one_line_error_after_four_tries(
    langfuse_double: LangfuseDouble, reg: LangfuseRegistry, sleeps: Sleeps
) -> None:
    langfuse_double.fail_next("GET", f"{PROMPTS}/greeting", 503, times=4)
    with pytest.raises(RegistryError) as err:
        reg.get_version("greeting")
    assert str(err.value) == (
        f"Langfuse at {langfuse_double.base_url} answered 503 while reading greeting: Service Unavailable"
    )
    assert len(sleeps) == 3 and len(langfuse_double.requests()) == 4


def test_wrong_keys_are_a_one_line_error_without_the_secret(langfuse_double: LangfuseDouble, sleeps: Sleeps) -> None:
    secret = "sk-lf-wrong-0123456789"
    registry = LangfuseRegistry(langfuse_double.public_key, secret, langfuse_double.base_url, sleep=sleeps)
    with pytest.raises(RegistryError) as err:
        registry.list_prompts()
    message = str(err.value)
    assert message == (
        f"Langfuse at {langfuse_double.base_url} rejected the API keys (401) while listing prompts "
        "(page 1): check LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY, and that LANGFUSE_BASE_URL is the host of "
        "their project"
    )
    assert secret not in message and err.value.__cause__ is None and sleeps == []


def test_an_unreachable_host_fails_fast_and_names_it(sleeps: Sleeps) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    registry = LangfuseRegistry("pk-lf-unreachable", "sk-lf-unreachable", f"http://127.0.0.1:{port}", sleep=sleeps)
    with pytest.raises(RegistryError) as err:
        registry.all_labels("greeting")
    assert str(err.value) == (
        f"cannot connect to Langfuse at http://127.0.0.1:{port} while listing greeting: "
        "check LANGFUSE_BASE_URL and the network"
    )
    assert sleeps == []


def test_a_slow_server_times_out_into_a_registry_error(langfuse_double: LangfuseDouble, sleeps: Sleeps) -> None:
    d = langfuse_double
    registry = LangfuseRegistry(d.public_key, d.secret_key, d.base_url, timeout=0.05, sleep=sleeps)
    d.set_latency(0.3)
    with pytest.raises(RegistryError) as err:
        registry.all_labels("greeting")
    assert str(err.value) == (
        f"Langfuse at {d.base_url} did not answer within 0.05 s while listing greeting (raise LANGFUSE_TIMEOUT?)"
    )
    assert len(sleeps) == 3
    d.set_latency(0)


# -- datasets -----------------------------------------------------------------------------------


def test_unchanged_items_are_not_rewritten_and_gone_ones_are_archived(
    langfuse_double: LangfuseDouble, reg: LangfuseRegistry
) -> None:
    reg.sync_dataset(dataset(FR, JP))
    langfuse_double.log.clear()
    reg.sync_dataset(dataset(FR))
    writes = [r.body for r in langfuse_double.requests() if r.is_write]
    assert writes == [
        {"datasetName": "capitals", "id": "jp", "status": "ARCHIVED"},
    ]
    archived = langfuse_double.dataset_items("capitals", include_archived=True)
    # sorted: the first sync uploads its items concurrently, so their creation order is not a contract
    assert sorted((i["id"], i["status"], i["expectedOutput"]) for i in archived) == [
        ("fr", "ACTIVE", "Paris"),
        ("jp", "ARCHIVED", "Tokyo"),
    ]


def test_updating_a_dataset_keeps_the_json_schemas_set_in_the_ui(
    langfuse_double: LangfuseDouble, reg: LangfuseRegistry
) -> None:
    schema = {"type": "object"}
    langfuse_double.store.create_dataset("capitals", description="old", inputSchema=schema)
    result = reg.sync_dataset(dataset(FR, description="new"))
    assert result.created is False
    (stored,) = langfuse_double.datasets()
    assert (stored["description"], stored["metadata"], stored["inputSchema"]) == ("new", {"owner": "geo"}, schema)


def test_an_item_id_taken_by_another_dataset_fails_at_once(
    langfuse_double: LangfuseDouble, reg: LangfuseRegistry, sleeps: Sleeps
) -> None:
    reg.sync_dataset(dataset(FR))
    other = DatasetSpec("other", "prompts/datasets/other.yaml", "", (FR,))
    with pytest.raises(RegistryError) as err:
        reg.sync_dataset(other)
    assert str(err.value) == (
        f"Langfuse at {langfuse_double.base_url} answered 409 while writing item fr of dataset other: "
        "The dataset item with id fr already exists in a dataset other than other"
    )
    assert sleeps == []
