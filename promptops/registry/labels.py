"""The labels promptops keeps on prompt versions: where production is, the releases, and every gate decision.

Langfuse keeps nothing about a version mutable but its labels, and a label sits on at most one version of a
name. So a decision is a label whose name says what was decided about which content: `content-<h>` marks the
version that holds content `<h>` (content is never stored twice, so this label is unique by construction);
`passed-<h>-<f>` and `rejected-<h>-<f>` record the gate's verdict on that content under the evaluation
fingerprint `<f>` (dataset, evaluators, model, seed, gate); `rolled-back-<h>` records that production was
rolled back from that content. The listing of a prompt returns the union of its versions' labels, so one
listing tells, for any content, whether it exists and what was decided about it, without a fetch per version.
Labels are at most 36 characters of `[a-z0-9_\\-.]` (REFERENCE §2.3); these stay within that.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PRODUCTION = "production"
LATEST = "latest"
HASH_CHARS = 12  # of the content hash's hex digest: unique among the versions of one prompt
FINGERPRINT_CHARS = 8  # of the evaluation fingerprint's hex digest: unique among one prompt's experiments

RELEASE_RE = re.compile(r"^release-(\d+)$")
_HEX = "[0-9a-f]"
CONTENT_RE = re.compile(rf"^content-({_HEX}{{{HASH_CHARS}}})$")
PASSED_RE = re.compile(rf"^passed-({_HEX}{{{HASH_CHARS}}})-({_HEX}{{{FINGERPRINT_CHARS}}})$")
REJECTED_RE = re.compile(rf"^rejected-({_HEX}{{{HASH_CHARS}}})-({_HEX}{{{FINGERPRINT_CHARS}}})$")
ROLLED_BACK_RE = re.compile(rf"^rolled-back-({_HEX}{{{HASH_CHARS}}})$")


def short_hash(content_hash: str) -> str:
    """Return the part of a content hash (`sha256:<hex>`) that labels carry."""
    return content_hash.partition(":")[2][:HASH_CHARS] or content_hash[:HASH_CHARS]


def short_fingerprint(fingerprint: str) -> str:
    """Return the part of an evaluation fingerprint (`sha256:<hex>`) that labels carry."""
    return fingerprint.partition(":")[2][:FINGERPRINT_CHARS] or fingerprint[:FINGERPRINT_CHARS]


def content_label(content_hash: str) -> str:
    """Return the label on the version that holds this content."""
    return f"content-{short_hash(content_hash)}"


def passed_label(content_hash: str, fingerprint: str) -> str:
    """Return the label that records a pass of this content under this evaluation fingerprint."""
    return f"passed-{short_hash(content_hash)}-{short_fingerprint(fingerprint)}"


def rejected_label(content_hash: str, fingerprint: str) -> str:
    """Return the label that records a rejection of this content under this evaluation fingerprint."""
    return f"rejected-{short_hash(content_hash)}-{short_fingerprint(fingerprint)}"


def rolled_back_label(content_hash: str) -> str:
    """Return the label that records that production was rolled back from this content."""
    return f"rolled-back-{short_hash(content_hash)}"


def release_numbers(labels: Iterable[str]) -> list[int]:
    """Return the N of every `release-N` label, ascending."""
    return sorted(int(m.group(1)) for label in labels if (m := RELEASE_RE.match(label)))


def next_release(all_labels: Iterable[str]) -> str:
    """Return the release label the next promotion of a prompt with these labels (all versions) sets."""
    numbers = release_numbers(all_labels)
    return f"release-{(numbers[-1] if numbers else 0) + 1}"


def is_managed(label: str) -> bool:
    """Return whether promptops sets and reads this label (as opposed to a label of the user's)."""
    return label in (PRODUCTION, LATEST) or any(
        pattern.match(label) for pattern in (RELEASE_RE, CONTENT_RE, PASSED_RE, REJECTED_RE, ROLLED_BACK_RE)
    )


@dataclass(frozen=True)
class Decisions:
    """What a set of labels (one version's, or the union over a prompt's versions) says about contents."""

    contents: frozenset[str]  # short hashes stored
    passed: frozenset[tuple[str, str]]  # (short hash, short fingerprint)
    rejected: frozenset[tuple[str, str]]
    rolled_back: frozenset[str]
    releases: tuple[int, ...]

    @classmethod
    def of(cls, labels: Sequence[str]) -> Decisions:
        """Parse the decision labels out of `labels`; other labels are ignored."""

        def pairs(pattern: re.Pattern[str]) -> frozenset[tuple[str, str]]:
            return frozenset((m.group(1), m.group(2)) for label in labels if (m := pattern.match(label)))

        def singles(pattern: re.Pattern[str]) -> frozenset[str]:
            return frozenset(m.group(1) for label in labels if (m := pattern.match(label)))

        return cls(
            contents=singles(CONTENT_RE),
            passed=pairs(PASSED_RE),
            rejected=pairs(REJECTED_RE),
            rolled_back=singles(ROLLED_BACK_RE),
            releases=tuple(release_numbers(labels)),
        )

    def stored(self, content_hash: str) -> bool:
        """Return whether a version carries this content's label."""
        return short_hash(content_hash) in self.contents

    def passed_under(self, content_hash: str, fingerprint: str) -> bool:
        """Return whether this content passed the gate under this fingerprint."""
        return (short_hash(content_hash), short_fingerprint(fingerprint)) in self.passed

    def rejected_under(self, content_hash: str, fingerprint: str) -> bool:
        """Return whether this content was rejected under this fingerprint."""
        return (short_hash(content_hash), short_fingerprint(fingerprint)) in self.rejected

    def judged(self, content_hash: str) -> bool:
        """Return whether this content was ever judged, under any fingerprint."""
        short = short_hash(content_hash)
        return any(h == short for h, _ in self.passed | self.rejected)

    def held(self, content_hash: str) -> bool:
        """Return whether production was rolled back from this content."""
        return short_hash(content_hash) in self.rolled_back
