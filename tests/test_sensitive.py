"""promptops.sensitive: the masks' shortcuts (skip what a text cannot match) change no masked text."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptops.sensitive import PERSONAL_PATTERNS, SECRET_PATTERNS, _luhn, redact, redact_secret_values, redact_secrets

SAMPLES = {
    "private key": "-----BEGIN RSA PRIVATE KEY-----",
    "Langfuse secret key": "sk-lf-0a1b2c3d4e5f6a7b",
    "OpenAI API key": "sk-proj-" + "A1b2" * 6,
    "Anthropic API key": "sk-ant-" + "x9" * 12,
    "AWS access key": "AKIA" + "ABCDEFGHIJKLMNOP",
    "GitHub token": "ghp_" + "x" * 36,
    "Slack token": "xoxb-1234567890-abc",
    "Google API key": "AIza" + "B" * 35,
    "JSON web token": "eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.abcdefghijkl",
    "bearer token": "BEARER " + "t0k3n" * 5,
}
TEXTS = [
    "",
    "Refunds are paid back within 5 business days.",
    "plain words only, no digits and no at sign",
    "I am jane.doe@example.com, call me on +1 415 555 0100, card 4111 1111 1111 1111.",
    "order 1234567890123 is not a card (Luhn), ticket ACME-123456",
    "postgres://user:hunter2pass@db.example.com/app",
    *(f"key {sample} in the middle" for sample in SAMPLES.values()),
    "a secret value lfsecret-canary-9a8b7c6d5e and more",
]


def reference(text: str, extra_patterns: tuple[str, ...] = ()) -> str:
    """Mask as the masks did before their shortcuts: every pattern, in order, on every text."""
    for kind, pattern in SECRET_PATTERNS.items():
        text = pattern.sub(f"[REDACTED {kind}]", text)
    text = redact_secret_values(text)
    for kind, pattern in PERSONAL_PATTERNS.items():
        if kind == "card":
            text = pattern.sub(lambda m: "[REDACTED card]" if _luhn(m.group(0)) else m.group(0), text)
        else:
            text = pattern.sub(f"[REDACTED {kind}]", text)
    for extra in extra_patterns:
        text = re.sub(extra, "[REDACTED]", text)
    return text


def test_every_credential_kind_has_a_sample() -> None:
    assert sorted(SAMPLES) == sorted(SECRET_PATTERNS)
    assert all(SECRET_PATTERNS[kind].search(sample) for kind, sample in SAMPLES.items())


@pytest.mark.parametrize("text", TEXTS)
def test_redact_masks_exactly_what_every_pattern_would(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "lfsecret-canary-9a8b7c6d5e")
    assert redact(text, (r"ACME-\d{6}",)) == reference(text, (r"ACME-\d{6}",))
    assert redact(text) == reference(text)


def test_the_shortcuts_know_every_personal_kind() -> None:
    # redactor() tests each personal pattern behind its own shortcut: a new kind must be added there too.
    assert list(PERSONAL_PATTERNS) == ["email", "card", "phone"]


PIECES = st.sampled_from([
    *SAMPLES.values(), "jane@example.com", "+44 20 7946 0958", "4111 1111 1111 1111", "https://u:pw123456@h/x",
    "lfsecret-canary-9a8b7c6d5e", "ACME-123456", " ", "\n", "@", "-",
])  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.one_of(PIECES, st.text(max_size=6)), max_size=8))
def test_redact_equals_every_pattern_on_generated_text(parts: list[str]) -> None:
    text = "".join(parts)
    with pytest.MonkeyPatch.context() as patched:
        patched.setenv("LANGFUSE_SECRET_KEY", "lfsecret-canary-9a8b7c6d5e")
        assert redact(text, (r"ACME-\d{6}",)) == reference(text, (r"ACME-\d{6}",))
        credentials = text
        for kind, pattern in SECRET_PATTERNS.items():
            credentials = pattern.sub(f"[REDACTED {kind}]", credentials)
        assert redact_secrets(text) == redact_secret_values(credentials)  # the same shortcut, personal data kept
