"""The response store: what the key is made of, what a recording holds (and never holds), and damaged files."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from promptops.errors import ModelError
from promptops.llm.base import Completion, LLMRequest
from promptops.model import DatasetItem, DatasetSpec, EvaluatorSpec, ExperimentSpec, RenderedPrompt
from promptops.model_calls import ModelSession
from promptops.responses import CallContext, ResponseStore, prompt_folder, request_key
from promptops.runner import run
from promptops.tracing import NullTracer, Subject
from tests.openai_double.server import OpenAIDouble

REQUEST = LLMRequest(
    messages=({"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}),
    model="gpt-4o-mini",
    temperature=0.0,
    seed=42,
    max_tokens=20,
    options={"timeout_s": 30},
)
ANSWER = Completion("Paris", "gpt-4o-mini-2024-07-18", 12, 1, 0.4321)
CONTEXT = CallContext("capital-cities", "sha256:abc", "france", 0, "task")


@pytest.mark.parametrize(
    "changed",
    [
        replace(REQUEST, model="gpt-4o"),
        replace(REQUEST, temperature=0.2),
        replace(REQUEST, max_tokens=21),
        replace(REQUEST, seed=43),
        replace(REQUEST, messages=(REQUEST.messages[0], {"role": "user", "content": "Capital of Spain?"})),
        replace(REQUEST, messages=({"role": "user", "content": "Be brief."}, REQUEST.messages[1])),
        replace(REQUEST, options={"timeout_s": 30, "top_p": 0.5}),
    ],
    ids=["model", "temperature", "max_tokens", "seed", "message", "role", "option"],
)
def test_whatever_changes_the_answer_changes_the_key(changed: LLMRequest) -> None:
    assert request_key("openai", changed, 0) != request_key("openai", REQUEST, 0)


def test_the_provider_and_repeat_are_in_the_key_and_timeouts_and_attempts_are_not() -> None:
    key = request_key("openai", REQUEST, 0)
    assert request_key("azure", REQUEST, 0) != key
    assert request_key("openai", REQUEST, 1) != key  # repeats stay independent draws
    assert request_key("openai", replace(REQUEST, options={"timeout_s": 5}, attempt=2), 0) == key


def test_a_recording_is_one_reviewable_file_per_response_in_the_prompts_folder(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path / "prompts" / "_responses", root=tmp_path)
    key = request_key("openai", REQUEST, 0)
    path = store.put(key, "openai", REQUEST, ANSWER, CONTEXT)
    assert path == tmp_path / "prompts" / "_responses" / "capital-cities" / f"{key[:24]}.json"
    entry = json.loads(path.read_text("utf-8"))
    recorded_at = entry.pop("recorded_at")
    assert len(recorded_at) == 20 and recorded_at.endswith("Z")
    assert entry == {
        "format": "promptops-response/1",
        "key": key,
        "prompt": "capital-cities",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "parameters": {"temperature": 0.0, "max_tokens": 20},
        "seed": 42,
        "repeat": 0,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}],
        "response": {"text": "Paris", "model": "gpt-4o-mini-2024-07-18", "latency_s": 0.432},
        "usage": {"input_tokens": 12, "output_tokens": 1},
        "for": {"content_hash": "sha256:abc", "item": "france", "call": "task"},
    }
    assert store.get("capital-cities", key) == replace(ANSWER, latency_s=0.432, replayed=True)
    assert store.get("capital-cities", request_key("openai", REQUEST, 1)) is None
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind


def test_recordings_hold_no_secret_and_mask_personal_data_as_configured(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path, redact_patterns=(r"ORDER-\d+",))
    secret = "sk-proj-" + "a1B2c3D4e5F6g7H8i9J0k1L2m3"
    asked = replace(
        REQUEST, messages=({"role": "user", "content": f"I am jane@example.com, order ORDER-991, key {secret}"},)
    )
    path = store.put("f" * 64, "openai", asked, replace(ANSWER, text="Mail jane@example.com"), CONTEXT)
    text = path.read_text("utf-8")
    assert "jane@example.com" not in text and secret not in text and "ORDER-991" not in text
    entry = json.loads(text)
    assert entry["messages"][0]["content"] == ("I am [REDACTED email], order [REDACTED], key [REDACTED OpenAI API key]")
    assert entry["response"]["text"] == "Mail [REDACTED email]"
    hit = store.get("capital-cities", "f" * 64)
    assert hit is not None and hit.text == "Mail [REDACTED email]"  # replay gives back what was stored


def test_a_damaged_recording_fails_its_item_with_what_to_do(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path / "_responses", root=tmp_path)
    key = request_key("openai", REQUEST, 0)
    path = store.path("capital-cities", key)
    path.parent.mkdir(parents=True)
    path.write_text("{not json", "utf-8")
    with pytest.raises(ModelError) as caught:
        store.get("capital-cities", key)
    assert str(caught.value).startswith(f"_responses/capital-cities/{key[:24]}.json: not a promptops recording (")
    assert str(caught.value).endswith("delete it and record again")


def test_prompt_folders_follow_names_and_never_leave_the_store() -> None:
    assert prompt_folder("support/agent") == Path("support", "agent")
    for odd in ("../../etc", "/abs", "a/../b", "sp ace", ""):
        folder = prompt_folder(odd)
        assert folder.parts[0].startswith("_") and len(folder.parts) == 1, odd


def test_a_judge_is_recorded_and_replayed_with_its_item(tmp_path: Path, openai_double: OpenAIDouble) -> None:
    rendered = RenderedPrompt("caps", "text", "What is the capital of {{country}}?", {}, (), (), "sha256:j", "c.yaml")
    judge = EvaluatorSpec("judged", "llm_judge", {"model": "gpt-4o-mini"})
    spec = ExperimentSpec("d", model="gpt-4o-mini", evaluators=(judge,))
    data = DatasetSpec("d", "d.yaml", items=(DatasetItem("fr", {"country": "France"}, "Paris"),))
    store = ResponseStore(tmp_path)

    def once(mode: str) -> list[object]:
        calls = ModelSession(mode=mode, store=store).run_calls("caps", "sha256:j", spec)  # type: ignore[arg-type]
        result = run(Subject(rendered, None, "working tree"), data, spec, tracer=NullTracer(), calls=calls)
        (item,) = result.items
        return [item.error, item.score("judged"), result.calls.live_calls, result.calls.replayed_calls]

    recorded = once("record")
    assert recorded[2:] == [2, 0] and openai_double.completions == 2  # the task's call and the judge's
    assert {json.loads(p.read_text())["for"]["call"] for p in (tmp_path / "caps").iterdir()} == {"task", "judge:judged"}
    openai_double.stop()
    assert once("replay") == recorded[:2] + [0, 2]
