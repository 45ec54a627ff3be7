"""Provider lookup and the OpenAI-compatible provider, through the real SDK against the loopback OpenAI double."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from typing import Any

import pytest

from promptops.errors import ModelError
from promptops.llm import get_provider
from promptops.llm.base import Completion, LLMRequest
from tests.openai_double.answers import prompt_tokens, tokens
from tests.openai_double.server import OpenAIDouble

MESSAGES = (
    {"role": "system", "content": "Be brief. Answer with only the city name."},
    {"role": "user", "content": "What is the capital of France?"},
)


def call(model: str, options: dict[str, Any], **controls: Any) -> Completion:
    """Look up the provider and run one request."""
    provider = get_provider(model, options)
    return asyncio.run(provider.complete(LLMRequest(messages=MESSAGES, model=model, **controls)))


def test_call_sends_model_messages_and_controls(openai_double: OpenAIDouble) -> None:
    completion = call("gpt-4o-mini", {}, temperature=0.0, seed=7, max_tokens=20)
    [received] = openai_double.log
    assert (received.path, received.status) == ("/v1/chat/completions", 200)
    assert received.authorization == f"Bearer {openai_double.api_key}"
    body = received.body
    assert {k: body[k] for k in ("model", "messages", "temperature", "seed", "max_tokens")} == {
        "model": "gpt-4o-mini",
        "messages": [dict(m) for m in MESSAGES],
        "temperature": 0.0,
        "seed": 7,
        "max_tokens": 20,
    }
    # The double answers by mock-llm-v1's rules and counts tokens as answers.py says: 10 + 4 and 7 + 4 in, 1 out.
    assert (completion.text, completion.model, completion.input_tokens, completion.output_tokens) == (
        "Paris",
        "gpt-4o-mini",
        prompt_tokens(MESSAGES),
        tokens("Paris"),
    )
    assert (prompt_tokens(MESSAGES), tokens("Paris")) == (25, 1)
    assert completion.latency_s > 0


def test_openai_prefix_and_reasoning_models(openai_double: OpenAIDouble) -> None:
    call("openai:llama3", {})
    call("o3-mini", {}, max_tokens=50)
    first, second = (r.body for r in openai_double.log)
    assert (first["model"], first["temperature"], "max_tokens" in first) == ("llama3", 0.0, False)
    assert second["model"] == "o3-mini" and second["max_completion_tokens"] == 50
    assert "temperature" not in second and "max_tokens" not in second


def test_base_url_is_not_a_prompt_file_option(openai_double: OpenAIDouble) -> None:
    # A pull request could otherwise send CI's OPENAI_API_KEY to a host of its choosing.
    with pytest.raises(ModelError, match="unknown option base_url; known options: timeout_s"):
        call("gpt-4o-mini", {"base_url": "http://127.0.0.1:9/v1"})
    assert openai_double.requests == 0


@pytest.mark.parametrize(("status", "retriable"), [(429, True), (500, True), (503, True), (400, False)])
def test_http_errors_map_to_model_error(openai_double: OpenAIDouble, status: int, retriable: bool) -> None:
    openai_double.fail_next(status)
    with pytest.raises(ModelError) as caught:
        call("gpt-4o-mini", {})
    assert (caught.value.retriable, caught.value.rate_limited) == (retriable, status == 429)
    assert caught.value.retry_after_s is None  # no Retry-After header was sent
    assert str(caught.value) == f"gpt-4o-mini: HTTP {status}: scripted failure"
    assert openai_double.requests == 1  # the SDK does not retry behind the runner's back


def test_server_messages_are_scrubbed_of_the_key(openai_double: OpenAIDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-0123456789abcdef")
    with pytest.raises(ModelError) as caught:
        call("gpt-4o-mini", {})
    assert (str(caught.value), caught.value.retriable) == ("gpt-4o-mini: HTTP 401: Incorrect API key provided", False)


@pytest.mark.parametrize(("seconds", "expected"), [(2.5, 2.5), (0.004, 0.004)])
def test_a_429_carries_the_servers_retry_after(openai_double: OpenAIDouble, seconds: float, expected: float) -> None:
    openai_double.fail_next(429, retry_after_s=seconds)
    with pytest.raises(ModelError) as caught:
        call("gpt-4o-mini", {})
    assert (caught.value.rate_limited, caught.value.retriable, caught.value.retry_after_s) == (True, True, expected)
    assert openai_double.limited == 1


def test_the_double_rate_limits_per_second_with_retry_after(openai_double: OpenAIDouble) -> None:
    openai_double.rate_limit_per_s = 2
    call("gpt-4o-mini", {})
    call("gpt-4o-mini", {})
    with pytest.raises(ModelError) as caught:
        call("gpt-4o-mini", {})
    wait = caught.value.retry_after_s
    assert caught.value.rate_limited and wait is not None and 0 < wait <= 1.0
    assert (openai_double.requests, openai_double.completions, openai_double.limited) == (3, 2, 1)


def test_an_exhausted_quota_is_not_retried(openai_double: OpenAIDouble) -> None:
    openai_double.fail_next(429, code="insufficient_quota")
    with pytest.raises(ModelError) as caught:
        call("gpt-4o-mini", {})
    assert (caught.value.retriable, caught.value.rate_limited) == (False, False)


def test_a_hung_request_times_out_retriably(openai_double: OpenAIDouble) -> None:
    openai_double.hang_next()
    with pytest.raises(ModelError) as caught:
        call("gpt-4o-mini", {"timeout_s": 0.2})
    assert caught.value.retriable and "timed out" in str(caught.value).lower()
    # On a loaded machine the client's 0.2 s can pass before the server's thread has read the request (it may
    # never read it): the hang must not be left for the next request to take.
    openai_double.clear_faults()
    assert call("gpt-4o-mini", {"timeout_s": 5}).text == "Paris"  # the next request is answered


def test_connection_refused_is_retriable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdef")
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    with pytest.raises(ModelError) as caught:
        call("gpt-4o-mini", {})
    assert caught.value.retriable and "sk-test-0123456789abcdef" not in str(caught.value)


def test_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdef")
    monkeypatch.setitem(sys.modules, "openai", None)  # makes `import openai` raise ImportError
    with pytest.raises(ModelError) as caught:
        get_provider("gpt-4o-mini")
    assert str(caught.value) == "the OpenAI provider needs the openai package: pip install 'promptops[openai]'"


def test_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ModelError) as caught:
        get_provider("gpt-4o-mini")
    assert str(caught.value) == "gpt-4o-mini needs an API key: set OPENAI_API_KEY"


def test_unknown_openai_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdef")
    with pytest.raises(ModelError, match="unknown option latency_ms; known options: timeout_s"):
        get_provider("gpt-4o-mini", {"latency_ms": 5})


def test_only_the_chosen_provider_is_imported() -> None:
    code = (
        "import sys, promptops.llm as llm; llm.get_provider('mock-llm-v1');"
        "print(sorted(m for m in sys.modules"
        " if m.split('.')[0] == 'openai' or m.startswith('promptops.llm.')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "['promptops.llm.base', 'promptops.llm.mock']"
