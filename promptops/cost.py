"""What model calls cost: a price table for common OpenAI models (overridable in config) and a run's call stats.

Prices are USD per million tokens, OpenAI's list prices for standard (not batch, not cached-input) use as of
PRICES_AS_OF; a price that changes, or a model served elsewhere, goes under `prices` in the project config. A
dated snapshot (`gpt-4o-mini-2024-07-18`) costs what its family costs. Cost is counted for live calls only:
a replayed response costs nothing. A run's cost is computed once from its token totals per model,
tokens × price / 1,000,000 for input and output, so the figure equals usage × price exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from promptops.model import ModelPrice

PRICES_AS_OF = "2025-08"
PRICES: Mapping[str, ModelPrice] = {
    "mock-llm-v1": ModelPrice(0.0, 0.0),
    "gpt-5": ModelPrice(1.25, 10.00), "gpt-5-mini": ModelPrice(0.25, 2.00), "gpt-5-nano": ModelPrice(0.05, 0.40),
    "gpt-4.1": ModelPrice(2.00, 8.00), "gpt-4.1-mini": ModelPrice(0.40, 1.60), "gpt-4.1-nano": ModelPrice(0.10, 0.40),
    "gpt-4o": ModelPrice(2.50, 10.00), "gpt-4o-mini": ModelPrice(0.15, 0.60),
    "gpt-4-turbo": ModelPrice(10.00, 30.00), "gpt-4": ModelPrice(30.00, 60.00), "gpt-3.5-turbo": ModelPrice(0.50, 1.50),
    "o1": ModelPrice(15.00, 60.00), "o1-mini": ModelPrice(1.10, 4.40), "o3": ModelPrice(2.00, 8.00),
    "o3-mini": ModelPrice(1.10, 4.40), "o4-mini": ModelPrice(1.10, 4.40),
}  # fmt: skip


def price_for(model: str, overrides: Mapping[str, ModelPrice] | None = None) -> ModelPrice | None:
    """Return a model's price: the config's first, then the table's; a dated snapshot costs its family's price."""
    tables = (overrides or {}, PRICES)
    for name in dict.fromkeys((model, model.removeprefix("openai:"))):
        for table in tables:
            if name in table:
                return table[name]
    for table in tables:
        # The longest family name that the model extends with a dash: gpt-4o-mini-2024-07-18 is gpt-4o-mini.
        family = max((k for k in table if model.removeprefix("openai:").startswith(k + "-")), key=len, default=None)
        if family is not None:
            return table[family]
    return None


def cost_usd(price: ModelPrice, input_tokens: int, output_tokens: int) -> float:
    """Return the USD cost of these tokens at this price."""
    return (input_tokens * price.input_per_mtok + output_tokens * price.output_per_mtok) / 1_000_000


def format_usd(value: float | None) -> str:
    """Return a cost as reports show it: `$0.0123`, four decimals (six below a hundredth of a cent)."""
    if value is None:
        return "unknown"
    if 0 < value < 0.0001:
        return f"${value:.6f}"
    return f"${value:.4f}"


@dataclass(frozen=True)
class CallStats:
    """A run's model calls: live and replayed, billed tokens, cost, rate limiting, and why a model could not run."""

    live_calls: int = 0
    replayed_calls: int = 0
    input_tokens: int = 0  # billed: live calls only
    output_tokens: int = 0
    cost_usd: float | None = 0.0  # None when a live call went to a model without a known price
    unpriced: tuple[str, ...] = ()  # those models
    rate_limited: int = 0  # HTTP 429 answers, each waited out and retried
    concurrency: int | None = None  # the run's configured concurrency
    lowest_concurrency: int | None = None  # how far adaptive concurrency went down (None: never limited)
    missing: int = 0  # replay misses (mode replay)
    unavailable: str | None = None  # why the model could not be called here (no key, no package), if it was needed
    stopped_by_budget: str | None = None  # the budget message, when the budget stopped the run

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self) | {"unpriced": list(self.unpriced)}

    @property
    def worth_showing(self) -> bool:
        """Return whether reports should show this run's cost: it cost something, replayed, or was limited.

        mock-llm-v1 runs cost nothing and replay nothing, so their reports stay as they were.
        """
        return bool(self.replayed_calls or self.rate_limited or self.cost_usd is None or self.cost_usd > 0)

    def describe(self) -> str:
        """Return one line: cost, calls, and rate limiting."""
        calls = f"{self.live_calls} live call{'s' if self.live_calls != 1 else ''}"
        if self.replayed_calls:
            calls += f", {self.replayed_calls} replayed"
        tokens = f"{self.input_tokens:,} input and {self.output_tokens:,} output tokens billed"
        text = f"cost {format_usd(self.cost_usd)} ({calls}; {tokens})"
        if self.unpriced:
            text += f"; no price for {', '.join(self.unpriced)}: add it under `prices` in the project config"
        return text

    def limited_line(self) -> str | None:
        """Return how often the run was rate limited, or None if it never was."""
        if not self.rate_limited:
            return None
        times = f"{self.rate_limited} time{'s' if self.rate_limited != 1 else ''}"
        lowest = f"; concurrency went down to {self.lowest_concurrency} of {self.concurrency}"
        return f"rate limited {times} (HTTP 429, waited out and retried){lowest if self.lowest_concurrency else ''}"


@dataclass(frozen=True)
class CostSummary:
    """The cost of a verdict: its candidate run and its baseline run."""

    candidate: CallStats
    baseline: CallStats | None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "candidate": self.candidate.to_dict(),
            "baseline": self.baseline.to_dict() if self.baseline else None,
            "total_usd": self.total_usd,
        }

    @property
    def total_usd(self) -> float | None:
        """Return what both runs cost, None if either had a call without a known price."""
        runs = [self.candidate] + ([self.baseline] if self.baseline else [])
        costs = [r.cost_usd for r in runs]
        return None if any(c is None for c in costs) else sum(c for c in costs if c is not None)
