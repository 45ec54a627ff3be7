"""Statistics for noisy scores against hand-computed values, and what the gate does with them."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from promptops.evaluators.aggregate import error_rate, percentile, summarize, summarize_latency
from promptops.evaluators.base import Score
from promptops.gate import judge
from promptops.model import GatePolicy, Guardrail
from promptops.results import ExperimentResult, ItemResult
from promptops.statistics import (
    bootstrap_mean,
    pass_at_k,
    pass_hat_k,
    sign_test_min_pairs,
    sign_test_min_wins,
    sign_test_p,
    wilson,
)
from promptops.verdict_render import verdict_markdown, verdict_text

# --- the formulas ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("passes", "trials", "low", "high"),
    [
        # By hand with z = 1.959964: centre (p + z²/2n) / (1 + z²/n), half-width z/(1 + z²/n) · √(p(1-p)/n + z²/4n²).
        (10, 10, 0.72247, 1.0),  # centre 0.86123, half 0.13877
        (0, 10, 0.0, 0.27753),
        (7, 10, 0.39678, 0.89221),  # centre 0.64450, half 0.24772
        (50, 100, 0.40383, 0.59617),
    ],
)
def test_wilson_interval(passes: int, trials: int, low: float, high: float) -> None:
    interval = wilson(passes, trials, 0.95)
    assert interval is not None
    assert (interval.low, interval.high) == (pytest.approx(low, abs=1e-5), pytest.approx(high, abs=1e-5))
    assert (interval.confidence, interval.method) == (0.95, "wilson")


def test_wilson_at_90_percent_and_without_trials() -> None:
    interval = wilson(10, 10, 0.90)  # z = 1.644854: centre 0.89353, half 0.10647
    assert interval is not None and interval.low == pytest.approx(0.78706, abs=1e-5)
    assert wilson(0, 0) is None


@pytest.mark.parametrize(
    ("trials", "passes", "k", "at_k", "hat_k"),
    [
        (5, 3, 2, 0.9, 0.3),  # pass@2 = 1 - C(2,2)/C(5,2) = 1 - 1/10; pass^2 = C(3,2)/C(5,2) = 3/10
        (5, 3, 1, 0.6, 0.6),  # k = 1 is the pass rate
        (3, 3, 3, 1.0, 1.0),
        (3, 2, 3, 1.0, 0.0),  # at least one of all three passes; not all three do
        (3, 0, 3, 0.0, 0.0),
        (4, 2, 2, 5 / 6, 1 / 6),  # 1 - C(2,2)/C(4,2) = 1 - 1/6; C(2,2)/C(4,2) = 1/6
    ],
)
def test_pass_at_k_and_pass_hat_k(trials: int, passes: int, k: int, at_k: float, hat_k: float) -> None:
    assert pass_at_k(trials, passes, k) == pytest.approx(at_k)
    assert pass_hat_k(trials, passes, k) == pytest.approx(hat_k)


def test_pass_at_k_refuses_a_k_beyond_the_trials() -> None:
    with pytest.raises(ValueError, match="1 <= k <= trials"):
        pass_at_k(2, 1, 3)


def test_the_sign_test_needs_9_of_10_and_at_least_6_pairs() -> None:
    assert sign_test_p(9, 1) == 22 / 1024  # 2 · (C(10,0) + C(10,1)) / 2^10 = 0.0215 < 0.05
    assert sign_test_p(8, 2) == 112 / 1024  # 0.109: not enough
    assert sign_test_min_wins(10, 0.05) == 9
    assert sign_test_min_wins(20, 0.05) == 15
    assert sign_test_min_wins(5, 0.05) is None  # 2/32 = 0.0625 even when all 5 win
    assert sign_test_min_pairs(0.05) == 6  # 2/64 = 0.031


def test_bootstrap_resamples_items_with_the_seed_and_takes_percentiles() -> None:
    values = [0.0, 1.0, 1.0, 0.5, 1.0]
    interval = bootstrap_mean(values, seed="42:exact_match:candidate", resamples=500)
    rng = random.Random("42:exact_match:candidate")
    means = sorted(sum(rng.choices(values, k=5)) / 5 for _ in range(500))
    assert interval is not None
    assert (interval.low, interval.high) == (percentile(means, 2.5), percentile(means, 97.5))
    assert bootstrap_mean(values, seed="42:exact_match:candidate", resamples=500) == interval  # reproducible


def test_bootstrap_of_constant_values_and_of_nothing() -> None:
    interval = bootstrap_mean([0.75] * 6, seed="s")
    assert interval is not None and (interval.low, interval.high) == (0.75, 0.75)
    assert bootstrap_mean([], seed="s") is None


# --- in the verdict ----------------------------------------------------------------------------------------------


def items(outcomes: dict[str, Sequence[bool | None]]) -> list[ItemResult]:
    """Build exact_match items: per item id, one outcome per repeat (None: the item failed)."""
    found = []
    for repeat in range(max(len(o) for o in outcomes.values())):
        for item_id, per_repeat in outcomes.items():
            value = per_repeat[repeat]
            if value is None:
                found.append(ItemResult(item_id, repeat, {"q": item_id}, "x", None, "model error: boom"))
            else:
                score = Score("exact_match", value, "BOOLEAN")
                found.append(ItemResult(item_id, repeat, {"q": item_id}, "x", "out", None, (score,), 0.5))
    return found


def result(found: list[ItemResult], *, subject: str = "working tree", model: str = "mock-llm-v1") -> ExperimentResult:
    p50, p95 = summarize_latency([i.latency_s for i in found])
    metrics = {
        "exact_match": summarize("exact_match", [i.score("exact_match") for i in found], data_type="BOOLEAN"),
        "latency_p50": p50,
        "latency_p95": p95,
        "error_rate": error_rate(sum(i.failed for i in found), len(found)),
    }
    return ExperimentResult("capitals", subject, None, "capitals", model, 42, tuple(found), metrics, "run-1")


def test_repeats_give_per_item_pass_rates_pass_at_k_and_pass_hat_k() -> None:
    outcomes = {"a": [True] * 3, "b": [True, False, True], "c": [False, False, None], "d": [True, False, False]}
    candidate = result(items(outcomes))
    verdict = judge(GatePolicy("exact_match"), candidate, None)
    (stats,) = verdict.statistics
    assert (stats.metric, stats.run, stats.items, stats.trials, stats.k) == ("exact_match", "candidate", 4, 12, 3)
    assert [(r.item_id, r.passes, r.trials) for r in stats.item_pass_rates] == [
        ("a", 3, 3),
        ("b", 2, 3),
        ("c", 0, 3),  # a failed repeat never passes
        ("d", 1, 3),
    ]
    assert stats.pass_rate == 6 / 12
    assert stats.pass_at_k == 3 / 4  # k = n = 3: every item with a pass
    assert stats.pass_hat_k == 1 / 4  # only a passed all three
    assert stats.flaky_items == 2
    assert stats.pass_interval == wilson(6, 12, 0.95)
    # The bootstrap resamples items: their means over repeats are 1, 2/3, 0 and 1/3.
    assert stats.mean_interval == bootstrap_mean([1.0, 2 / 3, 0.0, 1 / 3], seed="42:exact_match:candidate")
    text = verdict_text(verdict)
    assert "statistics (95% intervals, k = 3 repeats of 4 items):" in text
    row = next(line for line in text.splitlines() if line.startswith("  exact_match  candidate"))
    assert stats.mean_interval is not None
    assert row.endswith(f"{stats.mean_interval.describe()}  0.50 [0.25, 0.75]   0.75    0.25    2 of 4")
    heading = "<details><summary>statistics (95% intervals, k = 3 repeats of 4 items)</summary>"
    assert heading in verdict_markdown(verdict).splitlines()


def test_one_repeat_with_the_mean_rule_adds_nothing() -> None:
    candidate = result(items({"a": [True], "b": [False]}))
    verdict = judge(GatePolicy("exact_match"), candidate, None)
    assert (verdict.statistics, verdict.notes) == ((), ())
    assert "statistics" not in verdict_text(verdict)


def test_deciding_on_the_lower_bound_passes_a_sure_improvement() -> None:
    baseline = result(items({f"q{i}": [False] for i in range(10)}), subject="base ref")
    candidate = result(items({f"q{i}": [True] for i in range(10)}))
    verdict = judge(GatePolicy("exact_match", decide_on="lower_bound"), candidate, baseline)
    interval = next(c for c in verdict.checks if c.kind == "interval")
    assert interval.passed and interval.message == (
        "the 95% interval of the exact_match gain is [+1.00, +1.00] over 10 items: "
        "its lower bound +1.00 > min_delta 0.00"
    )
    assert verdict.passed


def test_deciding_on_the_lower_bound_rejects_a_gain_the_noise_explains() -> None:
    base = {f"q{i}": [False, False] for i in range(10)} | {"q1": [False, True], "q2": [True, False]}
    cand = {f"q{i}": [False, False] for i in range(10)} | {"q0": [True, False], "q1": [True, False], "q3": [True, True]}
    baseline = result(items(base), subject="base ref")
    candidate = result(items(cand))
    assert judge(GatePolicy("exact_match"), candidate, baseline).passed  # 0.20 > 0.10 on the means
    verdict = judge(GatePolicy("exact_match", decide_on="lower_bound"), candidate, baseline)
    gains = [0.5, 0.0, -0.5, 1.0] + [0.0] * 6  # per item, averaged over its two repeats
    expected = bootstrap_mean(gains, seed="42:exact_match:gain")
    assert expected is not None and expected.low < 0
    assert not verdict.passed
    low, high = f"{expected.low:+.2f}", f"{expected.high:+.2f}"
    assert verdict.reason == (
        f"Candidate rejected: the 95% interval of the exact_match gain is [{low}, {high}] over 10 items: "
        f"its lower bound {low} is not > min_delta 0.00."
    )


def test_a_floor_on_the_lower_bound_and_the_note_when_it_cannot_be_met() -> None:
    candidate = result(items({f"q{i}": [True] for i in range(10)}))
    policy = GatePolicy("exact_match", floors={"exact_match": 0.8}, decide_on="lower_bound")
    verdict = judge(policy, candidate, None)
    check = next(c for c in verdict.checks if c.kind == "interval")
    assert (check.passed, check.message) == (
        False,
        "exact_match's 95% lower bound 0.72 (Wilson, 10 of 10 trials) is below the floor 0.80",
    )
    assert verdict.notes == (
        "with 10 trials even a perfect exact_match has a 95% lower bound of 0.72, below its floor 0.80: "
        "the floor cannot be met; add items or repeats",
    )
    twenty = result(items({f"q{i}": [True] for i in range(20)}))  # Wilson(20, 20) = [0.839, 1]
    assert judge(policy, twenty, None).passed


@pytest.mark.parametrize(
    ("n", "note"),
    [
        (10, "with 10 paired items a sign test cannot reach p < 0.05 unless 9 of 10 improve"),
        (5, "with 5 paired items a sign test cannot reach p < 0.05 even if every item improves: it needs at least 6"),
        (20, None),  # 15 of 20 is enough
    ],
)
def test_the_minimum_sample_note(n: int, note: str | None) -> None:
    baseline = result(items({f"q{i}": [False] for i in range(n)}), subject="base ref")
    candidate = result(items({f"q{i}": [True] for i in range(n)}))
    verdict = judge(GatePolicy("exact_match", significance="sign"), candidate, baseline)
    assert verdict.notes == ((note,) if note else ())
    if note:
        assert f"  ! {note}" in verdict_text(verdict).splitlines()
        assert f"> **Note:** {note.replace('<', '&lt;')}" in verdict_markdown(verdict).splitlines()


def test_a_gate_on_latency_from_a_real_model_says_it_is_noise() -> None:
    policy = GatePolicy("exact_match", guardrails=(Guardrail("latency_p95", 0.5),))
    real = result(items({"a": [True]}), model="gpt-4o-mini")
    assert judge(policy, real, result(items({"a": [True]}), model="gpt-4o-mini")).notes == (
        "latency_p95 is measured from a real model (gpt-4o-mini): it moves with the network and the provider's "
        "load, not with the prompt, so it is noise for this gate",
    )
    assert judge(policy, result(items({"a": [True]})), result(items({"a": [True]}))).notes == ()
