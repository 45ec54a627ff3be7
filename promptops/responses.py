"""Recorded model responses: one JSON file per response, one folder per prompt, reviewable and safe for git.

A response is keyed by what determines it: the provider, the model, the parameters that change the answer
(temperature, max_tokens, provider options other than timeouts), the rendered messages, the seed and the repeat
index (so repeats stay independent draws). The key is a SHA-256 of those, canonical JSON; the file is named by it.

Why our own small format and not vcrpy or diskcache: vcrpy records HTTP exchanges, so its key is the request
body of one SDK version (a new `openai` release that adds a field misses every cassette) and its cassettes hold
headers, which is where the API key lives; diskcache is a SQLite file, which git can neither diff nor merge.
A file per response means two branches that record never conflict, a write is atomic (temp file, then rename;
a killed run keeps every finished recording), and a reviewer reads the exact messages, answer, usage and date.

Entries never hold a secret (no headers are kept; messages and answers pass through the project's redaction,
so personal data is masked as in every report) and replaying gives back the stored, redacted answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from promptops.errors import ModelError
from promptops.files import regular_bytes
from promptops.llm.base import Completion, LLMRequest
from promptops.sensitive import redact

FORMAT = "promptops-response/1"
KEY_CHARS = 24  # of the hex digest in the file name: 96 bits; the full key inside the file guards collisions
NOT_CONTENT_OPTIONS = frozenset({"timeout_s"})  # provider options that change how long, never what, it answers
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class CallContext:
    """Where a call belongs (not part of the key): for reviewers and for the pre-run cost estimate."""

    prompt: str
    content_hash: str  # of the subject's rendered prompt
    item_id: str
    repeat: int
    call: str  # "task", or "judge:<evaluator name>"


def parameters(request: LLMRequest) -> dict[str, Any]:
    """Return the request's parameters that change the answer."""
    extra = {k: request.options[k] for k in sorted(request.options) if k not in NOT_CONTENT_OPTIONS}
    return {"temperature": request.temperature, "max_tokens": request.max_tokens, **extra}


def request_key(provider: str, request: LLMRequest, repeat: int) -> str:
    """Return the hex key of a request: provider, model, parameters, messages, seed and repeat."""
    canonical = {
        "provider": provider,
        "model": request.model,
        "parameters": parameters(request),
        "messages": [[m.get("role", ""), m.get("content") or ""] for m in request.messages],
        "seed": request.seed,
        "repeat": repeat,
    }
    text = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def prompt_folder(name: str) -> Path:
    """Return a prompt's folder under the store: its name's path (`support/agent`), or a hash for odd names."""
    segments = name.split("/")
    if all(_SEGMENT.fullmatch(s) for s in segments):
        return Path(*segments)
    return Path("_" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:16])  # never `..` or an absolute path


MAX_RECORDING_BYTES = 16 * 1024 * 1024  # one recorded response


class ResponseStore:
    """The recordings folder of a project (default <prompts_dir>/_responses)."""

    def __init__(self, folder: Path, *, root: Path | None = None, redact_patterns: tuple[str, ...] = ()) -> None:
        self.folder = folder
        self.root = root or folder
        self.redact_patterns = redact_patterns

    def describe(self) -> str:
        """Return the folder relative to the project root, for messages."""
        try:
            return self.folder.relative_to(self.root).as_posix()
        except ValueError:
            return str(self.folder)

    def path(self, prompt: str, key: str) -> Path:
        """Return the file of one recorded response."""
        return self.folder / prompt_folder(prompt) / f"{key[:KEY_CHARS]}.json"

    def get(self, prompt: str, key: str) -> Completion | None:
        """Return the recorded completion for a key, None if there is none; a damaged file is a ModelError."""
        path = self.path(prompt, key)
        if not (path.exists() or path.is_symlink()):
            return None
        text = self._read(path)
        if text is None:
            raise ModelError(
                f"{self._shown(path)}: cannot read the recording: it must be a regular file of at most "
                f"{MAX_RECORDING_BYTES:,} bytes inside {self.describe()}"
            )
        try:
            entry = json.loads(text)
            if entry.get("key") != key:
                return None  # a different request whose key shares the file name's prefix: not ours
            response, usage = entry["response"], entry["usage"]
            return Completion(
                text=str(response["text"]),
                model=str(response.get("model") or entry["model"]),
                input_tokens=int(usage["input_tokens"]),
                output_tokens=int(usage["output_tokens"]),
                latency_s=float(response.get("latency_s") or 0.0),
                replayed=True,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelError(
                f"{self._shown(path)}: not a promptops recording ({type(exc).__name__}: {exc}); "
                "delete it and record again"
            ) from None

    def put(self, key: str, provider: str, request: LLMRequest, completion: Completion, context: CallContext) -> Path:
        """Store one response atomically and return its file."""
        entry = {
            "format": FORMAT,
            "key": key,
            "prompt": context.prompt,
            "provider": provider,
            "model": request.model,
            "parameters": parameters(request),
            "seed": request.seed,
            "repeat": context.repeat,
            "messages": [
                {"role": m.get("role", ""), "content": self._redact(m.get("content") or "")} for m in request.messages
            ],
            "response": {
                "text": self._redact(completion.text),
                "model": completion.model,
                "latency_s": round(completion.latency_s, 3),
            },
            "usage": {"input_tokens": completion.input_tokens, "output_tokens": completion.output_tokens},
            "recorded_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "for": {
                "content_hash": context.content_hash,
                "item": context.item_id,
                "call": context.call,
            },
        }
        path = self.path(context.prompt, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(entry, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
        handle, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def entries(self, prompt: str) -> list[Mapping[str, Any]]:
        """Return every readable recording of a prompt (damaged files are skipped: this only feeds estimates)."""
        folder = self.folder / prompt_folder(prompt)
        found: list[Mapping[str, Any]] = []
        if not folder.is_dir():
            return found
        for path in sorted(folder.glob("*.json")):
            try:
                entry = json.loads(self._read(path) or "")
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("format") == FORMAT:
                found.append(entry)
        return found

    def _redact(self, text: str) -> str:
        return redact(text, self.redact_patterns)

    def _read(self, path: Path) -> str | None:
        """Return a recording's text; None unless it is a bounded regular file whose real path stays in the store.

        The store is in the repository, so a pull request can commit a FIFO or a link to the checkout's secrets.
        """
        try:
            inside = path.resolve(strict=True).is_relative_to(self.folder.resolve())
        except (OSError, RuntimeError, ValueError):
            return None
        data = regular_bytes(path, MAX_RECORDING_BYTES) if inside else None
        try:
            return data.decode("utf-8") if data is not None else None
        except UnicodeDecodeError:
            return None

    def _shown(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)
