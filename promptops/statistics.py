"""Statistics for noisy scores: Wilson and bootstrap intervals, pass@k and pass^k, and what a sample can show.

Pure functions of numbers; gate_stats.py applies them to runs. Conventions:
- A pass rate's interval is Wilson's score interval over all trials (items × repeats), at confidence 1 - alpha.
- A mean's interval is a percentile bootstrap that resamples whole items (an item's repeats stay together, since
  they are not independent draws of the dataset), `BOOTSTRAP_RESAMPLES` times from `random.Random(seed)`. The
  seed is a string such as "42:exact_match:candidate", so the same run gives the same interval on any machine.
- pass@k is the chance that at least one of k draws of an item passes, pass^k that all k do; both use the
  unbiased estimators over an item's n repeats with c passes, 1 - C(n-c, k)/C(n, k) and C(c, k)/C(n, k)
  (Chen et al. 2021; Yao et al. 2024), averaged over items.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from promptops.evaluators.aggregate import percentile

BOOTSTRAP_RESAMPLES = 2000


@dataclass(frozen=True)
class Interval:
    """A two-sided interval at `confidence`, with the method that made it (wilson or bootstrap)."""

    low: float
    high: float
    confidence: float
    method: str

    def describe(self) -> str:
        """Return e.g. `[0.72, 1.00]`."""
        return f"[{self.low:.2f}, {self.high:.2f}]"


def z_value(confidence: float) -> float:
    """Return the two-sided standard normal quantile for a confidence level (0.95 -> 1.96)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def wilson(passes: int, trials: int, confidence: float = 0.95) -> Interval | None:
    """Return Wilson's score interval for `passes` out of `trials` (None without trials)."""
    if not 0 <= passes <= trials:
        raise ValueError(f"wilson needs 0 <= passes <= trials, got {passes} of {trials}")
    if trials == 0:
        return None
    z, n, p = z_value(confidence), trials, passes / trials
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # Clamp float noise at the ends: 10 of 10 must give exactly 1.0, not 0.9999999999999999.
    low = 0.0 if passes == 0 else max(0.0, centre - half)
    high = 1.0 if passes == trials else min(1.0, centre + half)
    return Interval(low, high, confidence, "wilson")


def bootstrap_mean(
    values: Sequence[float], *, seed: str, confidence: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES
) -> Interval | None:
    """Return the percentile bootstrap interval of the mean of `values` (one value per item), None if empty."""
    if not values:
        return None
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    tail = (1 - confidence) / 2 * 100
    low, high = percentile(means, tail), percentile(means, 100 - tail)
    assert low is not None and high is not None
    return Interval(low, high, confidence, "bootstrap")


def pass_at_k(trials: int, passes: int, k: int) -> float:
    """Return the chance that at least one of k of an item's draws passes (unbiased, from n trials with c passes)."""
    _check_k(trials, passes, k)
    return 1.0 - math.comb(trials - passes, k) / math.comb(trials, k)


def pass_hat_k(trials: int, passes: int, k: int) -> float:
    """Return pass^k: the chance that all k of an item's draws pass (unbiased, from n trials with c passes)."""
    _check_k(trials, passes, k)
    return math.comb(passes, k) / math.comb(trials, k)


def _check_k(trials: int, passes: int, k: int) -> None:
    if not 0 <= passes <= trials or not 1 <= k <= trials:
        raise ValueError(f"pass@k needs 0 <= passes <= trials and 1 <= k <= trials, got {passes}, {trials}, k={k}")


def sign_test_p(wins: int, losses: int) -> float:
    """Return the exact two-sided sign test's p for wins against losses (ties already dropped)."""
    n = wins + losses
    tail = sum(math.comb(n, k) for k in range(min(wins, losses) + 1))
    return min(1.0, 2 * tail / 2**n)


def sign_test_min_wins(pairs: int, alpha: float) -> int | None:
    """Return the fewest wins of `pairs` (the rest losses) with which a sign test reaches p < alpha, None if none."""
    return next((w for w in range((pairs + 1) // 2, pairs + 1) if sign_test_p(w, pairs - w) < alpha), None)


def sign_test_min_pairs(alpha: float) -> int:
    """Return the fewest pairs with which a sign test can reach p < alpha at all (every pair a win)."""
    return next(n for n in range(1, 64) if 2 / 2**n < alpha)
