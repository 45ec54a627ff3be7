"""Paired significance tests over per-item gains: the exact sign test and a seeded paired bootstrap."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from promptops.verdict import EPSILON, SignificanceResult

BOOTSTRAP_RESAMPLES = 2000


def sign_test(gains: Sequence[float]) -> SignificanceResult:
    """Return the exact two-sided sign test over paired gains (ties are dropped, as the test prescribes)."""
    wins, losses, ties = _tally(gains)
    n = wins + losses
    tail = sum(math.comb(n, k) for k in range(min(wins, losses) + 1))
    return SignificanceResult("sign", len(gains), min(1.0, 2 * tail / 2**n), wins, losses, ties)


def paired_bootstrap(gains: Sequence[float], *, seed: int, resamples: int = BOOTSTRAP_RESAMPLES) -> SignificanceResult:
    """Return the paired bootstrap of the mean gain: p is the share of resamples whose mean gain is <= 0."""
    wins, losses, ties = _tally(gains)
    p = 1.0
    if gains:
        rng = random.Random(seed)
        n = len(gains)
        at_most_zero = sum(sum(rng.choices(gains, k=n)) / n <= EPSILON for _ in range(resamples))
        p = at_most_zero / resamples
    return SignificanceResult("bootstrap", len(gains), p, wins, losses, ties)


def _tally(gains: Sequence[float]) -> tuple[int, int, int]:
    wins = sum(g > EPSILON for g in gains)
    losses = sum(g < -EPSILON for g in gains)
    return wins, losses, len(gains) - wins - losses
