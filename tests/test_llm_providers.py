"""Provider lookup and the OpenAI-compatible provider, against a tiny chat-completions server on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from promptops.errors import ModelError
from promptops.llm import get_provider
from promptops.llm.base import Completion, LLMRequest

KEY = "sk-test-0123456789abcdef"
MESSAGES = ({"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"})


@dataclass
class FakeOpenAI:
    """What the loopback server received, and what it answers next."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    reply: dict[str, Any] = field(default_factory=dict)


def chat_reply(text: str, model: str = "gpt-4o-mini") -> dict[str, Any]:
    """Return a chat.completion body as the OpenAI API sends it."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13},
    }


@pytest.fixture
def fake_openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """Serve /v1/chat/completions on 127.0.0.1 and point the provider's key at it."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append({"path": self.path, "auth": self.headers["Authorization"], "body": body})
            payload = json.dumps(state.reply).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = FakeOpenAI(url=f"http://127.0.0.1:{server.server_address[1]}/v1", reply=chat_reply("Paris"))
    monkeypatch.setenv("OPENAI_BASE_URL", state.url)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def call(model: str, options: dict[str, Any], **controls: Any) -> Completion:
    """Look up the provider and run one request."""
    provider = get_provider(model, options)
    return asyncio.run(provider.complete(LLMRequest(messages=MESSAGES, model=model, **controls)))


def test_call_sends_model_messages_and_controls(fake_openai: FakeOpenAI) -> None:
    completion = call("gpt-4o-mini", {}, temperature=0.3, seed=7, max_tokens=20)
    [received] = fake_openai.requests
    assert received["path"] == "/v1/chat/completions"
    assert received["auth"] == f"Bearer {KEY}"
    body = received["body"]
    assert {k: body[k] for k in ("model", "messages", "temperature", "seed", "max_tokens")} == {
        "model": "gpt-4o-mini",
        "messages": [dict(m) for m in MESSAGES],
        "temperature": 0.3,
        "seed": 7,
        "max_tokens": 20,
    }
    assert (completion.text, completion.model, completion.input_tokens, completion.output_tokens) == (
        "Paris",
        "gpt-4o-mini",
        12,
        1,
    )
    assert completion.latency_s > 0


def test_openai_prefix_and_reasoning_models(fake_openai: FakeOpenAI) -> None:
    call("openai:llama3", {})
    call("o3-mini", {}, max_tokens=50)
    first, second = (r["body"] for r in fake_openai.requests)
    assert (first["model"], first["temperature"], "max_tokens" in first) == ("llama3", 0.0, False)
    assert second["model"] == "o3-mini" and second["max_completion_tokens"] == 50
    assert "temperature" not in second and "max_tokens" not in second


def test_base_url_is_not_a_prompt_file_option(fake_openai: FakeOpenAI) -> None:
    # A pull request could otherwise send CI's OPENAI_API_KEY to a host of its choosing.
    with pytest.raises(ModelError, match="unknown option base_url; known options: timeout_s"):
        call("gpt-4o-mini", {"base_url": "http://127.0.0.1:9/v1"})
    assert fake_openai.requests == []


@pytest.mark.parametrize(("status", "retriable"), [(429, True), (500, True), (503, True), (400, False)])
def test_http_errors_map_to_model_error(fake_openai: FakeOpenAI, status: int, retriable: bool) -> None:
    fake_openai.status = status
    fake_openai.reply = {"error": {"message": f"nope for key {KEY}", "type": "x", "code": None}}
    with pytest.raises(ModelError) as caught:
        call("gpt-4o-mini", {})
    assert caught.value.retriable is retriable
    assert str(caught.value) == f"gpt-4o-mini: HTTP {status}: nope for key ***"
    assert len(fake_openai.requests) == 1  # the SDK does not retry behind the runner's back


def test_connection_refused_is_retriable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    with pytest.raises(ModelError) as caught:
        call("gpt-4o-mini", {})
    assert caught.value.retriable and KEY not in str(caught.value)


def test_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
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
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
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
