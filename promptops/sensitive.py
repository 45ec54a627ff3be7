"""Recognise secrets and personal data in text, to refuse them in prompt files and mask them in output.

Two kinds of masks: by pattern (anything that looks like a key, a token, an email ...) and by value: the values of
the secret environment variables promptops knows (SECRET_ENV, plus `redact.env` of the configuration) and the
password of a URL in LANGFUSE_BASE_URL / LANGFUSE_HOST are masked wherever they appear, whatever they look like.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, urlsplit

from promptops.model import Diagnostic

SECRET_ENV = ("LANGFUSE_SECRET_KEY", "OPENAI_API_KEY")  # always masked by value
URL_ENV = ("LANGFUSE_BASE_URL", "LANGFUSE_HOST")  # their password, if any, is masked by value
MIN_SECRET_CHARS = 6  # shorter values are not masked: masking "abc" everywhere would garble every message
# A password in a URL (scheme://user:password@host), masked wherever it appears.
URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@")

# Credentials: a prompt file or dataset that contains one leaks it to everyone who can read the registry.
SECRET_PATTERNS: dict[str, re.Pattern[str]] = {
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----"),
    "Langfuse secret key": re.compile(r"\bsk-lf-[0-9A-Za-z-]{8,}"),
    "OpenAI API key": re.compile(r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,}"),
    "Anthropic API key": re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
    "AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})"),
    "Slack token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}"),
    "JSON web token": re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    "bearer token": re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{20,}=*"),
}

# What each credential pattern starts with: a text without any of these matches none of them.
_SECRET_HINT = re.compile(r"-----BEGIN|sk-|AKIA|ASIA|gh[pousr]_|github_pat_|xox[abposr]-|AIza|eyJ|(?i:bearer)")
_DIGIT = re.compile(r"\d")  # cards and phone numbers have digits

# Personal data: masked before traces, reports or logs leave the process.
PERSONAL_PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"),
    "card": re.compile(r"\b\d(?:[ -]?\d){12,18}\b"),
    "phone": re.compile(r"(?<![\w+])\+?\d{1,3}[ .-]?\(?\d{2,4}\)?[ .-]?\d{3,4}[ .-]?\d{3,4}\b"),
}


@dataclass(frozen=True)
class Finding:
    """Where a sensitive value is: 1-based line and column, and what kind it looks like."""

    line: int
    col: int
    kind: str


def find_secrets(text: str) -> Iterator[Finding]:
    """Yield every place in `text` that looks like a credential."""
    for kind, pattern in SECRET_PATTERNS.items():
        for match in pattern.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            col = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
            yield Finding(line, col, kind)


@dataclass
class _Configured:
    """What the project's configuration adds to the masks, for output that has no configuration at hand."""

    env_names: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()


_configured = _Configured()


def configure(*, env_names: Iterable[str] = (), patterns: Iterable[str] = ()) -> None:
    """Add the configuration's secret variable names (`redact.env`) and patterns (`redact.patterns`)."""
    _configured.env_names, _configured.patterns = tuple(env_names), tuple(patterns)


def configured_patterns() -> tuple[str, ...]:
    """Return the configuration's `redact.patterns` (for the crash log and the commit message)."""
    return _configured.patterns


def secret_values() -> dict[str, str]:
    """Return {value: variable name} of the secrets in the environment now, longest first."""
    found: dict[str, str] = {}
    for name in (*SECRET_ENV, *_configured.env_names):
        value = os.environ.get(name, "")
        if len(value) >= MIN_SECRET_CHARS:
            found.setdefault(value, name)
    for name in URL_ENV:
        try:
            password = urlsplit(os.environ.get(name, "")).password or ""
        except ValueError:  # an invalid port or bracket: the whole value then stays unparsed
            password = ""
        for form in (password, unquote(password)):
            if len(form) >= MIN_SECRET_CHARS:
                found.setdefault(form, f"{name} password")
    return dict(sorted(found.items(), key=lambda item: -len(item[0])))


@lru_cache(maxsize=8)
def _value_pattern(values: tuple[tuple[str, str], ...]) -> re.Pattern[str] | None:
    return re.compile("|".join(re.escape(value) for value, _ in values)) if values else None


def secret_value_masker() -> Callable[[str], str]:
    """Return a function masking the secrets' values as they are now (read once: for many strings at a time).

    Reading the environment costs more than masking a short string, so a writer masking many values at once
    (a row of the local store) takes one masker rather than calling `redact_secret_values` per value.
    """
    values = secret_values()
    pattern = _value_pattern(tuple(values.items()))

    def mask(text: str) -> str:
        if "@" in text:  # what URL_PASSWORD needs; most strings have none, and the test is 50 times cheaper
            text = URL_PASSWORD.sub(r"\1[REDACTED password]@", text)
        if pattern is None:
            return text
        return pattern.sub(lambda m: f"[REDACTED {values[m.group(0)]}]", text)

    return mask


def redact_secret_values(text: str) -> str:
    """Return `text` with the values of the known secret variables and URL passwords masked."""
    return secret_value_masker()(text)


def _credentials_masked(text: str) -> str:
    """Return `text` with every SECRET_PATTERNS match masked (one search first: most texts hold none)."""
    if _SECRET_HINT.search(text):
        for kind, pattern in SECRET_PATTERNS.items():
            text = pattern.sub(f"[REDACTED {kind}]", text)
    return text


def redact_secrets(text: str) -> str:
    """Return `text` with credentials masked: by pattern, and by the value of known secrets (personal data kept)."""
    return redact_secret_values(_credentials_masked(text))


def redactor(extra_patterns: Iterable[str] = ()) -> Callable[[str], str]:
    """Return `redact` with the environment's secret values read once: for masking many strings at a time."""
    mask_values, extras = secret_value_masker(), tuple(extra_patterns)

    def redact_text(text: str) -> str:
        # Most strings hold nothing to mask: a search for what a pattern needs comes before each of its subs.
        text = mask_values(_credentials_masked(text))
        if "@" in text:
            text = PERSONAL_PATTERNS["email"].sub("[REDACTED email]", text)
        if _DIGIT.search(text):
            text = PERSONAL_PATTERNS["card"].sub(lambda m: "[REDACTED card]" if _luhn(m.group(0)) else m.group(0), text)
            text = PERSONAL_PATTERNS["phone"].sub("[REDACTED phone]", text)
        for extra in extras:
            text = re.sub(extra, "[REDACTED]", text)
        return text

    return redact_text


def redact(text: str, extra_patterns: Iterable[str] = (), *, keep: Iterable[str] = ()) -> str:
    """Return `text` with credentials, personal data and the given extra patterns masked.

    `keep` are promptops' own facts shown as they are, such as a commit id (twelve hex digits can all be
    digits, and then look like a phone number); nothing else in the text is spared.
    """
    kept = [token for token in dict.fromkeys(keep) if token]
    for i, token in enumerate(kept):
        text = text.replace(token, f"\0{i}\0")
    text = redactor(extra_patterns)(text)
    for i, token in enumerate(kept):
        text = text.replace(f"\0{i}\0", token)
    return text


def redact_value(value: Any, extra_patterns: Iterable[str] = ()) -> Any:
    """Return a JSON-like value with every string in it redacted (keys and numbers are kept)."""
    return redact_value_with(value, redactor(extra_patterns))


def redact_value_with(value: Any, redact_text: Callable[[str], str]) -> Any:
    """Return a JSON-like value with every string in it passed through `redact_text` (a `redactor`)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact_value_with(v, redact_text) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value_with(v, redact_text) for v in value]
    return value


def _luhn(candidate: str) -> bool:
    digits = [int(c) for c in candidate if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def secret_diagnostics(rel: str, text: str) -> list[Diagnostic]:
    """Return a file's secrets as `secret` errors: a credential must never reach a registry."""
    found, seen = [], set()
    for finding in find_secrets(text):
        if (finding.line, finding.col) in seen:
            continue  # an sk-lf- key also matches the wider sk- pattern: one key, one problem
        seen.add((finding.line, finding.col))
        article = "an" if finding.kind[0].lower() in "aeio" else "a"
        message = f"this looks like {article} {finding.kind}: never commit credentials; remove it and rotate the key"
        found.append(Diagnostic(rel, finding.line, finding.col, "secret", "error", message))
    return found
