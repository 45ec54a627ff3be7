"""Real models through the OpenAI chat-completions API, or any server that speaks it.

The key comes from OPENAI_API_KEY and the server from OPENAI_BASE_URL (else OpenAI). The server is deliberately
not a prompt-file option: prompt files come from pull requests, and a base URL there could send CI's API key
to any host. The SDK's own retries are off: the experiment runner retries with backoff and counts attempts.
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
import os
import time
from collections.abc import Mapping
from typing import Any

from promptops.errors import ModelError
from promptops.llm.base import Completion, LLMRequest, ProviderUnavailable

OPTION_NAMES = ("timeout_s",)
RETRIABLE_STATUS = frozenset({408, 409, 429})  # and every 5xx
NO_RETRY_CODES = frozenset({"insufficient_quota"})  # a 429 that waiting does not cure
MAX_RETRY_AFTER_S = 120.0  # a longer wait than this is not worth holding a run for; treated as no hint
REASONING_PREFIXES = ("o1", "o3", "o4")  # these take max_completion_tokens and only the default temperature


class OpenAICompatProvider:
    """A provider for `gpt-*`, `o1*`/`o3*`/`o4*` and `openai:<model>` names."""

    name = "openai"

    def __init__(self, model: str, options: Mapping[str, Any] | None = None) -> None:
        # Checked here so a missing extra fails at lookup, not per item; found, not imported: the SDK takes half a
        # second to import, which a run answered from recordings never needs.
        if importlib.util.find_spec("openai") is None:
            raise ProviderUnavailable(
                "the OpenAI provider needs the openai package: pip install 'promptops[openai]'"
            )
        self.options = dict(options or {})
        unknown = sorted(set(self.options) - set(OPTION_NAMES))
        if unknown:
            raise ModelError(f"{model}: unknown option {', '.join(unknown)}; known options: {', '.join(OPTION_NAMES)}")
        self._api_key = os.environ.get("OPENAI_API_KEY", "")
        if not self._api_key:
            raise ProviderUnavailable(f"{model} needs an API key: set OPENAI_API_KEY")
        self._base_url = os.environ.get("OPENAI_BASE_URL") or None
        self._timeout_s = self.options.get("timeout_s", 600.0)
        if isinstance(self._timeout_s, bool) or not isinstance(self._timeout_s, int | float) or self._timeout_s <= 0:
            raise ModelError(f"{model}: option timeout_s must be a number > 0, got {self._timeout_s!r}")
        # A client's connection pool belongs to one event loop; keeping the loop itself (not its id) means a
        # new loop can never be mistaken for the old one.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sdk_client: Any = None

    def _client(self) -> Any:
        import openai

        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            self._sdk_client = openai.AsyncOpenAI(
                api_key=self._api_key, base_url=self._base_url, max_retries=0, timeout=float(self._timeout_s)
            )
        return self._sdk_client

    async def aclose(self) -> None:
        """Close this loop's connection pool; left to the garbage collector, it would close on a dead loop."""
        client, self._sdk_client, self._loop = self._sdk_client, None, None
        if client is not None:
            await client.close()

    async def complete(self, request: LLMRequest) -> Completion:
        """Return the model's completion; API failures become ModelError with `retriable` set."""
        import openai

        model = request.model.removeprefix("openai:")
        arguments: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in request.messages],
            "seed": request.seed,
        }
        tokens_key = "max_completion_tokens" if model.startswith(REASONING_PREFIXES) else "max_tokens"
        if not model.startswith(REASONING_PREFIXES):
            arguments["temperature"] = request.temperature
        if request.max_tokens is not None:
            arguments[tokens_key] = request.max_tokens
        started = time.perf_counter()
        # `from None` below: the SDK's exception chain carries the request, Authorization header included.
        try:
            response = await self._client().chat.completions.create(**arguments)
        except openai.APIStatusError as error:
            status = error.status_code
            # A 429 for an exhausted quota (not a rate) never clears by waiting: fail now, not after the run's time.
            quota = status == 429 and error.code in NO_RETRY_CODES
            raise ModelError(
                f"{model}: HTTP {status}: {self._scrub(_detail(error))}",
                retriable=(status in RETRIABLE_STATUS or status >= 500) and not quota,
                rate_limited=status == 429 and not quota,
                retry_after_s=retry_after_s(error.response.headers) if status == 429 else None,
            ) from None
        except openai.APIConnectionError as error:  # includes APITimeoutError
            raise ModelError(f"{model}: {self._scrub(str(error))}", retriable=True) from None
        latency_s = time.perf_counter() - started
        text = response.choices[0].message.content if response.choices else None
        if text is None:
            raise ModelError(f"{model}: the response has no text (refusal or tool call)")
        usage = response.usage
        return Completion(
            text=text,
            model=response.model or model,
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
            latency_s=latency_s,
        )

    def _scrub(self, message: str) -> str:
        # Servers echo credentials in some errors; a ModelError ends up in logs and PR comments.
        return message.replace(self._api_key, "***")[:300] if len(self._api_key) >= 8 else message[:300]


def _detail(error: Any) -> str:
    # The SDK prefixes "Error code: N - "; the server's own message is the useful part.
    body = error.body
    message = body.get("message") if isinstance(body, Mapping) else None
    return message if isinstance(message, str) and message else str(error.message)


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Return the wait a 429 asks for (retry-after-ms, else retry-after in seconds), None if absent or unusable.

    Only numbers are read: an HTTP date in Retry-After depends on clocks agreeing, and OpenAI sends seconds.
    """
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            wait = float(value) / divisor
        except ValueError:
            continue
        if math.isfinite(wait) and 0 <= wait <= MAX_RETRY_AFTER_S:
            return wait
    return None
