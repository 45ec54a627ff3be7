"""The Langfuse test double, driven through the real langfuse SDK 5.0.4 (raw httpx only where noted)."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from langfuse.api import Error, NotFoundError, UnauthorizedError
from langfuse.api.core.api_error import ApiError

from tests.langfuse_double.server import LangfuseDouble


@pytest.fixture
def lf(langfuse_double: LangfuseDouble) -> Any:
    """A real SDK client pointed at the double."""
    return langfuse_double.client()


def labels_by_version(double: LangfuseDouble, name: str) -> dict[int, list[str]]:
    return {row["version"]: row["labels"] for row in double.prompts(name)}


def zod_messages(error: Error) -> list[str]:
    assert error.status_code == 400
    assert error.body["message"] == "Invalid request data"
    return [found["message"] for found in error.body["error"]]


# -- prompts: create, versions, labels ---------------------------------------------------------------


def test_create_answers_201_with_the_raw_row_and_appends_latest(langfuse_double: LangfuseDouble, lf: Any) -> None:
    prompt = lf.create_prompt(name="greet", prompt="Hi {{name}}", labels=["production"], config={"t": 0.2})

    assert (prompt.version, prompt.labels, prompt.config) == (1, ["production", "latest"], {"t": 0.2})
    [create] = langfuse_double.requests("POST", "/api/public/v2/prompts")
    assert create.status == 201
    assert create.body == {
        "name": "greet",
        "prompt": "Hi {{name}}",
        "config": {"t": 0.2},
        "labels": ["production"],
        "tags": None,
        "commitMessage": None,
    }
    [row] = langfuse_double.prompts("greet")
    assert (row["createdBy"], row["isActive"], row["tags"]) == ("API", None, [])


def test_labels_move_to_the_newest_holder_and_latest_follows_creation(langfuse_double: LangfuseDouble, lf: Any) -> None:
    lf.create_prompt(name="greet", prompt="v1", labels=["production", "canary"])
    lf.create_prompt(name="greet", prompt="v2", labels=["staging"])
    lf.create_prompt(name="greet", prompt="v3", labels=["production"])

    assert labels_by_version(langfuse_double, "greet") == {
        1: ["canary"],
        2: ["staging"],
        3: ["production", "latest"],
    }


def test_update_prompt_adds_labels_and_moves_them_off_other_versions(langfuse_double: LangfuseDouble, lf: Any) -> None:
    lf.create_prompt(name="greet", prompt="v1", labels=["canary"])
    lf.create_prompt(name="greet", prompt="v2", labels=["production"])

    updated = lf.update_prompt(name="greet", version=1, new_labels=["production"])

    assert updated.labels == ["canary", "production"]
    assert labels_by_version(langfuse_double, "greet") == {1: ["canary", "production"], 2: ["latest"]}
    assert lf.update_prompt(name="greet", version=1, new_labels=[]).labels == ["canary", "production"]


def test_update_prompt_rejects_latest_and_unknown_versions(lf: Any) -> None:
    lf.create_prompt(name="greet", prompt="v1")

    with pytest.raises(Error) as latest:
        lf.update_prompt(name="greet", version=1, new_labels=["latest"])
    with pytest.raises(NotFoundError) as missing:
        lf.update_prompt(name="greet", version=7, new_labels=["production"])

    assert zod_messages(latest.value) == ["Label 'latest' is always assigned to the latest prompt version"]
    assert missing.value.body == {
        "message": "Prompt 'greet' version 7 not found in project",
        "error": "LangfuseNotFoundError",
    }


def test_tags_are_inherited_when_omitted_and_replaced_on_every_version(
    langfuse_double: LangfuseDouble, lf: Any
) -> None:
    lf.create_prompt(name="greet", prompt="v1", tags=["support", "support"])
    lf.create_prompt(name="greet", prompt="v2")
    lf.create_prompt(name="greet", prompt="v3", tags=["billing"])

    assert [row["tags"] for row in langfuse_double.prompts("greet")] == [["billing"]] * 3


def test_deleting_the_top_version_reattaches_latest_and_frees_its_number(
    langfuse_double: LangfuseDouble, lf: Any
) -> None:
    for text in ("v1", "v2", "v3"):
        lf.create_prompt(name="team/greet", prompt=text)

    lf.api.prompts.delete(quote("team/greet", safe=""), version=3)

    assert labels_by_version(langfuse_double, "team/greet") == {1: [], 2: ["latest"]}
    assert [r.status for r in langfuse_double.requests("DELETE")] == [204]
    assert lf.create_prompt(name="team/greet", prompt="again").version == 3


def test_delete_by_label_and_delete_all(langfuse_double: LangfuseDouble, lf: Any) -> None:
    lf.create_prompt(name="greet", prompt="v1", labels=["staging"])
    lf.create_prompt(name="greet", prompt="v2")

    lf.api.prompts.delete("greet", label="staging")
    assert labels_by_version(langfuse_double, "greet") == {2: ["latest"]}
    lf.api.prompts.delete("greet")
    assert langfuse_double.prompt_names() == []
    with pytest.raises(NotFoundError) as gone:
        lf.api.prompts.delete("greet", request_options={"max_retries": 0})
    assert gone.value.body == {"message": "Prompt not found", "error": "LangfuseNotFoundError"}


def test_type_cannot_change_and_chat_messages_are_stored_stripped(langfuse_double: LangfuseDouble, lf: Any) -> None:
    messages = [
        {"type": "chatmessage", "role": "system", "content": "Be {{tone}}"},
        {"type": "placeholder", "name": "history"},
    ]
    lf.create_prompt(name="chat", type="chat", prompt=messages)

    with pytest.raises(Error) as changed:
        lf.create_prompt(name="chat", prompt="now text")
    with pytest.raises(Error) as clash:
        lf.create_prompt(
            name="chat",
            type="chat",
            prompt=[{"role": "user", "content": "{{history}}"}, {"type": "placeholder", "name": "history"}],
        )

    assert langfuse_double.prompts("chat")[0]["prompt"] == [
        {"role": "system", "content": "Be {{tone}}"},
        {"type": "placeholder", "name": "history"},
    ]
    assert changed.value.body == {
        "message": "Previous versions have different prompt type. Create a new prompt with a different name.",
        "error": "InvalidRequestError",
    }
    assert clash.value.body["message"] == (
        "Cannot create prompt, variables and placeholders must be unique, the following are not: history"
    )


@pytest.mark.parametrize(
    ("name", "messages"),
    [
        ("new", ["Prompt name cannot be 'new'"]),
        ("a|b", ["Prompt name cannot contain '|' character"]),
        ("/a", ["Name cannot start with a slash"]),
        ("a//b", ["Name cannot contain consecutive slashes"]),
        ("a/", ["Name cannot end with a slash"]),
        ("<b>x</b>", ["Text cannot contain HTML tags"]),
        ("", ["Text cannot be empty", "Name cannot start with a slash", "Name cannot end with a slash"]),
        ("   ", ["Name cannot be empty"]),
    ],
)
def test_invalid_prompt_names_get_zod_400s(lf: Any, name: str, messages: list[str]) -> None:
    with pytest.raises(Error) as rejected:
        lf.create_prompt(name=name, prompt="x")

    assert zod_messages(rejected.value) == messages
    assert rejected.value.body["error"][0]["path"] == ["name"]


def test_names_are_trimmed_and_may_hold_spaces_dots_and_unicode(langfuse_double: LangfuseDouble, lf: Any) -> None:
    lf.create_prompt(name="  Support Agent v1.2 (ü)  ", prompt="x")

    assert langfuse_double.prompt_names() == ["Support Agent v1.2 (ü)"]


def test_create_validates_labels_but_patch_does_not(langfuse_double: LangfuseDouble, lf: Any) -> None:
    with pytest.raises(Error) as rejected:
        lf.create_prompt(name="greet", prompt="x", labels=["Prod", "a" * 37])
    lf.create_prompt(name="greet", prompt="x")
    lf.update_prompt(name="greet", version=1, new_labels=["Not A Valid Create Label"])

    regex = "Label must be lowercase alphanumeric with optional underscores, hyphens, or periods"
    assert zod_messages(rejected.value) == [regex, "Too big: expected string to have <=36 characters"]
    assert [e["path"] for e in rejected.value.body["error"]] == [["labels", 0], ["labels", 1]]
    assert labels_by_version(langfuse_double, "greet") == {1: ["latest", "Not A Valid Create Label"]}


# -- prompts: reads -----------------------------------------------------------------------------------


def test_get_prompt_defaults_to_production_and_404s_with_the_server_message(lf: Any) -> None:
    lf.create_prompt(name="team/greet", prompt="stable", labels=["production"])
    lf.create_prompt(name="team/greet", prompt="draft")

    assert lf.get_prompt("team/greet").prompt == "stable"
    assert lf.get_prompt("team/greet", label="latest").prompt == "draft"
    assert lf.get_prompt("team/greet", version=2).prompt == "draft"
    with pytest.raises(NotFoundError) as missing:
        lf.get_prompt("team/greet", label="staging", max_retries=0)
    assert missing.value.body == {
        "message": "Prompt not found: 'team/greet' with label 'staging'",
        "error": "LangfuseNotFoundError",
    }


def test_get_by_name_adds_is_active_and_resolution_graph(lf: Any) -> None:
    lf.create_prompt(name="greet", prompt="x", labels=["production"])

    fetched = lf.api.prompts.get("greet")

    assert fetched.resolution_graph is None
    assert fetched.model_extra["isActive"] is True


def test_version_and_label_together_are_rejected(lf: Any) -> None:
    # Only the low-level client sends both; get_prompt raises ValueError before any request.
    lf.create_prompt(name="greet", prompt="x", labels=["production"])

    with pytest.raises(Error) as both:
        lf.api.prompts.get("greet", version=1, label="production")

    assert both.value.body == {"message": "Cannot specify both version and label", "error": "InvalidRequestError"}


def test_composition_tags_resolve_on_read_and_stay_raw_with_resolve_false(lf: Any) -> None:
    lf.create_prompt(name="shared/tone", prompt="Be kind.", labels=["production"])
    wrapper = "@@@langfusePrompt:name=shared/tone|label=production@@@ Answer {{q}}"
    lf.create_prompt(name="answer", prompt=wrapper, labels=["production"])

    resolved = lf.api.prompts.get("answer")
    raw = lf.api.prompts.get("answer", resolve=False)

    assert resolved.prompt == "Be kind. Answer {{q}}"
    graph = resolved.resolution_graph
    assert (graph["root"]["name"], graph["root"]["version"]) == ("answer", 1)
    assert [[(d["name"], d["version"]) for d in deps] for deps in graph["dependencies"].values()] == [
        [("shared/tone", 1)]
    ]
    assert (raw.prompt, raw.resolution_graph) == (wrapper, None)
    with pytest.raises(Error) as dangling:
        lf.create_prompt(name="broken", prompt="@@@langfusePrompt:name=nope|version=1@@@")
    assert dangling.value.body["message"] == "Prompt dependency not found: nope - version 1"


def test_list_paginates_by_name_and_filters_versions_before_grouping(lf: Any) -> None:
    for index in range(12):
        lf.create_prompt(name=f"p{index:02d}", prompt="x")
    lf.create_prompt(name="p00", prompt="v2", labels=["production"], config={"v": 2})
    lf.create_prompt(name="p00", prompt="v3", config={"v": 3})

    first, second = lf.api.prompts.list(), lf.api.prompts.list(page=2)
    production = lf.api.prompts.list(label="production")

    assert [m.name for m in first.data] == [f"p{i:02d}" for i in range(10)]
    assert (first.meta.total_items, first.meta.total_pages, first.meta.limit) == (12, 2, 10)
    assert [m.name for m in second.data] == ["p10", "p11"]
    assert (first.data[0].versions, first.data[0].labels, first.data[0].last_config) == (
        [1, 2, 3],
        ["latest", "production"],
        {"v": 3},
    )
    [meta] = production.data
    assert (meta.versions, meta.labels, meta.last_config) == ([2], ["production"], {"v": 2})
    assert first.pagination == {"page": 1, "limit": 10, "totalItems": 12, "totalPages": 2}


def test_list_rejects_a_limit_above_100(lf: Any) -> None:
    with pytest.raises(Error) as rejected:
        lf.api.prompts.list(limit=101)

    assert zod_messages(rejected.value) == ["Too big: expected number to be <=100"]


def test_folder_names_must_be_one_percent_encoded_segment(langfuse_double: LangfuseDouble, lf: Any) -> None:
    lf.create_prompt(name="team/support", prompt="x", labels=["production"])

    assert lf.api.prompts.get(quote("team/support", safe="")).name == "team/support"
    assert [m.name for m in lf.api.prompts.list(name="team/support").data] == ["team/support"]
    with pytest.raises(ApiError) as unencoded:
        lf.api.prompts.get("team/support", request_options={"max_retries": 0})

    assert unencoded.value.status_code == 404  # Next.js' HTML 404 page: no route has two segments there
    [violation] = langfuse_double.take_violations()
    assert (violation.kind, violation.path) == ("route", "/api/public/v2/prompts/team/support")


# -- auth and contract --------------------------------------------------------------------------------


def test_wrong_secret_key_gets_401_with_the_route_specific_body(langfuse_double: LangfuseDouble) -> None:
    intruder = langfuse_double.client(public_key=f"pk-lf-other-{uuid.uuid4()}", secret_key="sk-lf-wrong")

    with pytest.raises(UnauthorizedError) as on_prompts:
        intruder.api.prompts.list()
    with pytest.raises(UnauthorizedError) as on_projects:
        intruder.api.projects.get()

    message = "Invalid credentials. Confirm that you've configured the correct host."
    assert on_prompts.value.body == {"message": message, "error": "UnauthorizedError"}
    assert on_projects.value.body == {"message": message}


def test_auth_check_sees_the_project(langfuse_double: LangfuseDouble, lf: Any) -> None:
    assert lf.auth_check() is True
    [project] = lf.api.projects.get().data
    assert (project.id, project.metadata) == (langfuse_double.project_id, {})


def test_contract_validation_records_a_bad_body_and_answers_zod_400(langfuse_double: LangfuseDouble) -> None:
    response = httpx.post(
        f"{langfuse_double.base_url}/api/public/v2/prompts",
        json={"name": "x", "prompt": 42},
        auth=(langfuse_double.public_key, langfuse_double.secret_key),
    )

    assert response.status_code == 400
    assert response.json()["message"] == "Invalid request data"
    [violation] = langfuse_double.take_violations()
    assert (violation.kind, violation.operation) == ("request", "POST /api/public/v2/prompts")
    assert langfuse_double.prompt_names() == []


# -- datasets -----------------------------------------------------------------------------------------


def test_dataset_items_upsert_keep_old_values_and_list_only_active(langfuse_double: LangfuseDouble, lf: Any) -> None:
    lf.create_dataset(name="team/qa set", description="golden", metadata={"owner": "qa"})
    for index in range(3):
        lf.create_dataset_item(
            dataset_name="team/qa set", id=f"item-{index}", input={"q": index}, expected_output=f"a{index}"
        )
    lf.create_dataset_item(dataset_name="team/qa set", id="item-1", expected_output="changed")
    lf.create_dataset_item(dataset_name="team/qa set", id="item-2", status="ARCHIVED")

    dataset = lf.get_dataset("team/qa set", fetch_items_page_size=1)

    assert {i.id: (i.input, i.expected_output) for i in dataset.items} == {
        "item-0": ({"q": 0}, "a0"),
        "item-1": ({"q": 1}, "changed"),
    }
    assert [r.query["page"] for r in langfuse_double.requests("GET", "/api/public/dataset-items")] == [["1"], ["2"]]
    assert [i["id"] for i in langfuse_double.dataset_items("team/qa set", include_archived=True)] == [
        "item-0",
        "item-1",
        "item-2",
    ]
    assert (dataset.description, dataset.metadata) == ("golden", {"owner": "qa"})


def test_dataset_item_ids_are_unique_across_datasets(lf: Any) -> None:
    lf.create_dataset(name="a")
    lf.create_dataset(name="b")
    lf.create_dataset_item(dataset_name="a", id="shared", input="x")

    with pytest.raises(ApiError) as taken:
        lf.api.dataset_items.create(dataset_name="b", id="shared", input="y", request_options={"max_retries": 0})

    assert taken.value.status_code == 409
    assert taken.value.body["message"] == "The dataset item with id shared already exists in a dataset other than b"


def test_recreating_a_dataset_keeps_description_but_clears_schemas(lf: Any) -> None:
    lf.create_dataset(name="qa", description="golden", input_schema={"type": "object"})
    lf.create_dataset(name="qa")

    dataset = lf.get_dataset("qa")
    assert (dataset.description, dataset.input_schema) == ("golden", None)


def test_dataset_item_delete_and_missing_dataset(lf: Any) -> None:
    lf.create_dataset(name="qa")
    item = lf.create_dataset_item(dataset_name="qa", input="x")

    assert lf.api.dataset_items.delete(item.id).message == "Dataset item successfully deleted"
    with pytest.raises(NotFoundError) as missing:
        lf.get_dataset("nope")
    assert missing.value.body == {"message": "Dataset not found", "error": "LangfuseNotFoundError"}


# -- scores and traces --------------------------------------------------------------------------------


def test_sdk_scores_arrive_as_one_array_and_are_accepted(langfuse_double: LangfuseDouble, lf: Any) -> None:
    with lf.start_as_current_observation(name="task") as span:
        span.score(name="accuracy", value=0.9)
        span.score_trace(name="passed", value=True, data_type="BOOLEAN")
    lf.create_score(name="run-level", value=1, dataset_run_id="exp-1")
    lf.flush()

    [post] = langfuse_double.requests("POST", "/api/public/scores")
    assert (post.status, type(post.body), len(post.body)) == (202, list, 3)
    by_name = {s["name"]: s for s in langfuse_double.scores()}
    assert (by_name["accuracy"]["observationId"], by_name["accuracy"]["traceId"]) == (span.id, span.trace_id)
    assert (by_name["passed"]["value"], by_name["passed"]["dataType"]) == (1.0, "BOOLEAN")
    assert by_name["run-level"]["datasetRunId"] == "exp-1"


def test_scores_without_exactly_one_target_are_rejected_in_the_batch(langfuse_double: LangfuseDouble) -> None:
    # Raw httpx: the SDK would only log a 207.
    body = [
        {"name": "ok", "value": 1, "traceId": "t1"},
        {"name": "both", "value": 1, "traceId": "t1", "sessionId": "s1"},
    ]
    response = httpx.post(
        f"{langfuse_double.base_url}/api/public/scores",
        json=body,
        auth=(langfuse_double.public_key, langfuse_double.secret_key),
    )

    assert response.status_code == 207
    assert (response.json()["accepted"], response.json()["rejected"]) == (1, 1)
    assert [s["name"] for s in langfuse_double.scores()] == ["ok"]


def test_spans_arrive_as_otlp_protobuf_with_parent_links(langfuse_double: LangfuseDouble, lf: Any) -> None:
    with lf.start_as_current_observation(name="pipeline", input={"q": 1}) as root:
        with lf.start_as_current_observation(name="step", as_type="tool", metadata={"k": "v"}):
            pass
    lf.flush()

    [export] = langfuse_double.requests("POST", "/api/public/otel/v1/traces")
    assert (export.status, type(export.body)) == (200, bytes)
    assert (export.headers["content-type"], export.headers["content-encoding"]) == ("application/x-protobuf", "gzip")
    [step] = langfuse_double.children(root.id)
    assert step.name == "step" and step.trace_id == root.trace_id
    assert step.attributes["langfuse.observation.type"] == "tool"
    assert step.attributes["langfuse.observation.metadata.k"] == '"v"'
    root_span = langfuse_double.span(root.id)
    assert root_span is not None and root_span.attributes["langfuse.observation.input"] == '{"q": 1}'
    assert step.scope_name == "langfuse-sdk"


def test_otlp_json_is_decoded_too(langfuse_double: LangfuseDouble) -> None:
    # Raw httpx: the SDK only sends protobuf, but other OTel exporters may send OTLP/JSON.
    span = {
        "traceId": "0af7651916cd43dd8448eb211c80319c",
        "spanId": "b7ad6b7169203331",
        "name": "json-span",
        "attributes": [
            {"key": "langfuse.observation.type", "value": {"stringValue": "event"}},
            {"key": "n", "value": {"intValue": 3}},
        ],
    }
    body = {"resourceSpans": [{"scopeSpans": [{"scope": {"name": "other"}, "spans": [span]}]}]}
    response = httpx.post(
        f"{langfuse_double.base_url}/api/public/otel/v1/traces",
        json=body,
        auth=(langfuse_double.public_key, langfuse_double.secret_key),
    )

    assert (response.status_code, response.json()) == (200, {})
    [decoded] = langfuse_double.spans(trace_id="0af7651916cd43dd8448eb211c80319c")
    assert (decoded.name, decoded.parent_span_id, decoded.attributes) == (
        "json-span",
        None,
        {"langfuse.observation.type": "event", "n": 3},
    )


def test_generation_is_linked_to_the_fetched_prompt(langfuse_double: LangfuseDouble, lf: Any) -> None:
    lf.create_prompt(name="team/greet", prompt="Hi {{name}}", labels=["production"])
    prompt = lf.get_prompt("team/greet")
    with lf.start_as_current_observation(name="llm", as_type="generation", prompt=prompt, model="m"):
        pass
    lf.flush()

    [generation] = langfuse_double.spans(name="llm")
    assert generation.attributes["langfuse.observation.prompt.name"] == "team/greet"
    assert generation.attributes["langfuse.observation.prompt.version"] == 1


# -- faults and the direct editing API ----------------------------------------------------------------


def test_500_after_an_applied_create_makes_the_sdk_duplicate_the_version(
    langfuse_double: LangfuseDouble, lf: Any
) -> None:
    # Why promptops must re-read the registry before retrying a create itself.
    langfuse_double.lose_response("POST", "/api/public/v2/prompts", status=500)

    created = lf.create_prompt(name="greet", prompt="Hi", labels=["production"])

    assert created.version == 2
    assert [(row["version"], row["prompt"]) for row in langfuse_double.prompts("greet")] == [(1, "Hi"), (2, "Hi")]
    assert [r.status for r in langfuse_double.requests("POST")] == [500, 201]
    assert langfuse_double.count_writes("/api/public/v2/prompts") == 2


def test_a_dropped_response_raises_although_the_write_was_applied(langfuse_double: LangfuseDouble, lf: Any) -> None:
    langfuse_double.lose_response("POST", "/api/public/v2/prompts")

    with pytest.raises(httpx.RemoteProtocolError):
        lf.create_prompt(name="greet", prompt="Hi")

    assert [row["version"] for row in langfuse_double.prompts("greet")] == [1]
    assert [(r.status, r.fault) for r in langfuse_double.requests()] == [(None, "dropped connection after write")]


def test_429_before_the_write_is_retried_without_duplicates(langfuse_double: LangfuseDouble, lf: Any) -> None:
    langfuse_double.fail_next("POST", "/api/public/v2/prompts", status=429, retry_after=1)

    assert lf.create_prompt(name="greet", prompt="Hi").version == 1
    assert [r.status for r in langfuse_double.requests("POST")] == [429, 201]
    assert langfuse_double.faults.pending() == []


def test_503_on_reads_surfaces_after_the_sdk_gives_up(langfuse_double: LangfuseDouble, lf: Any) -> None:
    langfuse_double.fail_next("GET", "/api/public/v2/prompts*", status=503, times=1)

    with pytest.raises(ApiError) as unavailable:
        lf.api.prompts.list(request_options={"max_retries": 0})

    assert (unavailable.value.status_code, unavailable.value.body) == (503, {"message": "Service Unavailable"})


def test_ui_edits_are_visible_to_the_sdk(langfuse_double: LangfuseDouble, lf: Any) -> None:
    lf.create_prompt(name="greet", prompt="from git", labels=["production"])
    langfuse_double.store.create_prompt_version("greet", "edited in the UI", labels=["production"])
    langfuse_double.store.set_prompt_labels("greet", 1, ["rollback"])

    fetched = lf.get_prompt("greet", cache_ttl_seconds=0)

    assert (fetched.version, fetched.prompt) == (2, "edited in the UI")
    assert [row["createdBy"] for row in langfuse_double.prompts("greet")] == ["API", "user"]
    assert labels_by_version(langfuse_double, "greet") == {1: ["rollback"], 2: ["production", "latest"]}
