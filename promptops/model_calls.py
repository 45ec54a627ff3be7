"""Every model call of a command goes through here: recordings, retries, rate limits, cost and budgets.

A ModelSession lives for one command (experiment, check, sync): it holds the response store and its mode, the
prices, the project budget and what has been spent, one adaptive limit per model (so the baseline's run
learns the key's rate for the candidate's), and the providers. Each run takes a RunCalls from it, which
answers a call from its recording (mode replay or auto), or calls the model (record, auto, off): it waits as a
429's Retry-After asks, lowers and regrows concurrency, retries other transient failures with backoff, prices
the usage and refuses new calls once a budget is spent. mock-llm-v1 is never recorded: its answers are frozen
rules, free and instant, so a recording would only add files.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any

from promptops.budget import BudgetReached, budget_name, estimate, refuse_over_budget
from promptops.cost import CallStats, cost_usd, format_usd, price_for
from promptops.errors import ModelError
from promptops.llm import Completion, LLMRequest, Provider, get_provider, provider_name
from promptops.llm.base import ProviderUnavailable
from promptops.llm.limits import AdaptiveLimit
from promptops.model import Budget, DatasetSpec, ExperimentSpec, ModelPrice, ResponsesMode
from promptops.responses import CallContext, ResponseStore, request_key

MOCK = "mock-llm-v1"
MAX_RATE_LIMITED_RETRIES = 100  # per call; each waits as the server asks, so this is minutes, not a storm
BACKOFF_BASE_S = 0.05
BACKOFF_CAP_S = 2.0
KEY_ENV = {"openai": "OPENAI_API_KEY"}


def backoff_s(attempt: int, *key: object) -> float:
    """Return the wait before retry `attempt` (1-based): 0.05 s doubling to a 2 s cap, times a jitter in [0.5, 1).

    The jitter is a hash of `key` (seed, item, repeat, attempt), so a rerun waits exactly as long.
    """
    digest = hashlib.sha256("\x1f".join(map(str, (*key, attempt))).encode()).digest()
    jitter = int.from_bytes(digest[:8], "big") / 2**64
    return min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1)) * (0.5 + jitter / 2)


@dataclass
class ItemScope:
    """The item a call belongs to; `pause` stops its timeout's clock while the call waits on a rate limit."""

    item_id: str
    repeat: int
    backoff_key: tuple[object, ...]
    pause: Callable[[], Callable[[], None]] = lambda: lambda: None  # stop the item's clock; call the result to resume


CURRENT_ITEM: ContextVar[ItemScope | None] = ContextVar("promptops_current_item", default=None)


class ModelSession:
    """What one command's runs share: recordings, prices, budgets and spending, rate limits, providers."""

    def __init__(
        self,
        *,
        mode: ResponsesMode = "off",
        store: ResponseStore | None = None,
        prices: Mapping[str, ModelPrice] | None = None,
        budget: Budget | None = None,
    ) -> None:
        self.mode: ResponsesMode = mode if store is not None else "off"
        self.store = store
        self.prices = dict(prices or {})
        self.budget = budget
        self.spent_total = 0.0
        self.spent: dict[str, float] = {}
        self._limits: dict[str, AdaptiveLimit] = {}
        self._providers: dict[tuple[str, str], Provider | ModelError] = {}

    def provider(self, model: str, options: Mapping[str, Any]) -> Provider:
        """Return the provider for a model and options, looked up once; a failed lookup raises the same each time."""
        key = (model, json.dumps(dict(options), sort_keys=True, default=str))
        if key not in self._providers:
            try:
                self._providers[key] = get_provider(model, options)
            except ModelError as exc:
                self._providers[key] = exc
        found = self._providers[key]
        if isinstance(found, ModelError):
            raise type(found)(str(found)) from None
        return found

    def limit(self, model: str, concurrency: int) -> AdaptiveLimit:
        """Return the adaptive limit of a model, its ceiling the current run's concurrency."""
        limit = self._limits.get(model)
        if limit is None:
            limit = self._limits[model] = AdaptiveLimit(concurrency)
        else:
            limit.set_ceiling(concurrency)
        return limit

    def budgets(self, prompt: str, prompt_budget: Budget | None) -> list[tuple[Budget, float]]:
        """Return the budgets that hold for a prompt's runs, each with what it has spent so far."""
        found = [(prompt_budget, self.spent.get(prompt, 0.0))] if prompt_budget else []
        return found + ([(self.budget, self.spent_total)] if self.budget else [])

    def preflight(
        self, prompt: str, spec: ExperimentSpec, dataset: DatasetSpec, content_hashes: list[str], budget: Budget | None
    ) -> None:
        """Raise BudgetExceeded when running `spec` once per content hash would not fit a budget."""
        budgets = self.budgets(prompt, budget)
        if not budgets:
            return
        recordings = self.store.entries(prompt) if self.store is not None and self.mode != "off" else []
        for held, spent in budgets:
            found = estimate(
                spec, dataset, content_hashes, mode=self.mode, recordings=recordings, prices=self.prices, budget=held
            )
            refuse_over_budget(prompt, found, held, spent, len(content_hashes), len(dataset.items), spec.repeats)

    def guard(self, prompt: str, budget: Budget | None, model: str) -> None:
        """Raise BudgetReached when a live call to `model` may not start: a budget is spent, or the price unknown."""
        budgets = self.budgets(prompt, budget)
        if not budgets:
            return
        if price_for(model, self.prices) is None:
            raise BudgetReached(
                f"no price is known for {model}, so {budget_name(budgets[0][0])} cannot be held: "
                "add it under `prices` in the project config"
            )
        for held, spent in budgets:
            if spent >= held.max_usd:
                raise BudgetReached(f"{budget_name(held)} was reached: {format_usd(spent)} spent")

    def spend(self, prompt: str, usd: float) -> None:
        """Count a live call's cost against the prompt's and the project's budget."""
        self.spent[prompt] = self.spent.get(prompt, 0.0) + usd
        self.spent_total += usd

    def run_calls(
        self,
        prompt: str,
        content_hash: str,
        spec: ExperimentSpec,
        *,
        budget: Budget | None = None,
        provider: Provider | None = None,
    ) -> RunCalls:
        """Return the call gateway for one run of `prompt` (a given `provider` answers for spec.model)."""
        return RunCalls(self, prompt, content_hash, spec, budget, provider)


class RunCalls:
    """One run's model calls, and what they cost."""

    def __init__(
        self,
        session: ModelSession,
        prompt: str,
        content_hash: str,
        spec: ExperimentSpec,
        budget: Budget | None,
        provider: Provider | None,
    ) -> None:
        self.session, self.prompt, self.content_hash = session, prompt, content_hash
        self.spec, self.budget = spec, budget
        if provider is None:
            # Looked up now, so an unknown model or option fails before any item runs. Without its key or package
            # a model that can replay still runs: recordings answer, and each miss fails its item (`unavailable`).
            try:
                provider = session.provider(spec.model, spec.model_options)
            except ProviderUnavailable:
                if not self._replayable(spec.model):
                    raise
        self._given = provider
        self._tokens: dict[str, list[int]] = {}  # model -> [input, output] of live calls
        self._used: dict[int, Provider] = {}
        self.live = self.replayed = self.missing = self.rate_limited = 0
        self.lowest: int | None = None
        self.unavailable: str | None = None
        self.budget_stop: str | None = None

    @property
    def simulated_latency(self) -> bool:
        """Return whether the run's model reports a simulated latency (mock-llm-v1) rather than being timed."""
        return bool(getattr(self._given, "simulated_latency", False))

    def _replayable(self, model: str) -> bool:
        return (
            self.session.store is not None and self.session.mode != "off" and provider_name(model) not in (None, MOCK)
        )

    def _provider_id(self, request: LLMRequest) -> str:
        if self._given is not None and request.model == self.spec.model:
            return str(getattr(self._given, "name", request.model))
        return provider_name(request.model) or request.model

    async def complete(self, request: LLMRequest, scope: ItemScope, call: str = "task") -> Completion:
        """Answer a call from its recording, or from the model with retries, rate limits, cost and the budget."""
        provider_id = self._provider_id(request)
        store, mode = self.session.store, self.session.mode
        recordable = store is not None and mode != "off" and provider_id != MOCK
        key = request_key(provider_id, request, scope.repeat) if recordable else ""
        if store is not None and recordable and mode in ("replay", "auto"):
            hit = store.get(self.prompt, key)
            if hit is not None:
                self.replayed += 1
                return replace(hit, input_cost_usd=0.0, output_cost_usd=0.0)
            if mode == "replay":
                self.missing += 1
                where = KEY_ENV.get(provider_id, "the model's credentials")
                raise ModelError(
                    f"no recorded response for {self.prompt} item {scope.item_id} repeat {scope.repeat} ({call}) "
                    f"with {request.model} in {store.describe()}: record it with `promptops experiment {self.prompt} "
                    f"--responses record` (or run with --responses auto) where {where} is set"
                )
        provider = self._provider(request)
        completion = await self._call(provider, request, scope)
        usage = self._tokens.setdefault(request.model, [0, 0])
        usage[0] += completion.input_tokens
        usage[1] += completion.output_tokens
        self.live += 1
        price = price_for(request.model, self.session.prices)
        costs: tuple[float | None, float | None] = (None, None)
        if price is not None:
            costs = (cost_usd(price, completion.input_tokens, 0), cost_usd(price, 0, completion.output_tokens))
            self.session.spend(self.prompt, cost_usd(price, completion.input_tokens, completion.output_tokens))
        if store is not None and recordable and mode in ("record", "auto"):
            context = CallContext(self.prompt, self.content_hash, scope.item_id, scope.repeat, call)
            store.put(key, provider_id, request, completion, context)
        return replace(completion, input_cost_usd=costs[0], output_cost_usd=costs[1])

    def _provider(self, request: LLMRequest) -> Provider:
        if self._given is not None and request.model == self.spec.model:
            provider = self._given
        else:
            try:
                provider = self.session.provider(request.model, request.options)
            except ProviderUnavailable as exc:
                self.unavailable = self.unavailable or str(exc)
                raise
        self._used.setdefault(id(provider), provider)
        return provider

    async def aclose(self) -> None:
        """Close the connections this run's providers opened on its event loop (each run has a loop of its own)."""
        used, self._used = list(self._used.values()), {}
        for provider in used:
            close = getattr(provider, "aclose", None)
            if close is not None:
                await close()

    async def _call(self, provider: Provider, request: LLMRequest, scope: ItemScope) -> Completion:
        limit = self.session.limit(request.model, self.spec.concurrency)
        failures = limited = 0
        while True:
            epoch = limit.try_acquire()
            if epoch is None:
                resume = scope.pause()  # waiting on the key's rate is not the model taking long
                try:
                    epoch, _ = await limit.acquire()
                finally:
                    resume()
            try:
                self._guard(request.model)
                completion = await provider.complete(replace(request, attempt=failures + limited))
            except ModelError as exc:
                if exc.rate_limited and exc.retriable and limited < MAX_RATE_LIMITED_RETRIES:
                    limited += 1
                    self.rate_limited += 1
                    wait = (
                        exc.retry_after_s if exc.retry_after_s is not None else backoff_s(limited, *scope.backoff_key)
                    )
                    limit.release(epoch, rate_limited=True, wait_s=wait)
                    self.lowest = min(self.lowest or limit.ceiling, limit.allowed())
                    continue
                limit.release(epoch, grow=False)
                if not exc.retriable or failures == self.spec.retries:
                    attempts = failures + limited + 1
                    if attempts == 1:
                        raise
                    raise ModelError(f"{exc} (gave up after {attempts} attempts)", retriable=exc.retriable) from exc
                failures += 1
                await asyncio.sleep(backoff_s(failures, *scope.backoff_key))
                continue
            except BaseException:
                limit.release(epoch, grow=False)
                raise
            limit.release(epoch)
            return completion

    def _guard(self, model: str) -> None:
        try:
            self.session.guard(self.prompt, self.budget, model)
        except BudgetReached as exc:
            self.budget_stop = self.budget_stop or str(exc)
            raise

    def judge_provider(self, evaluator: str) -> Callable[[str, Mapping[str, Any]], Any]:
        """Return a judge_provider factory whose calls go through this gateway, as the item's judge calls."""

        def factory(model: str, options: Mapping[str, Any]) -> _JudgeCalls:
            return _JudgeCalls(self, f"judge:{evaluator}", dict(options))

        return factory

    def stats(self) -> CallStats:
        """Return the run's call statistics; cost from its token totals per model, so it is usage × price."""
        unpriced = tuple(sorted(m for m in self._tokens if price_for(m, self.session.prices) is None))
        cost: float | None = None
        if not unpriced:
            cost = 0.0
            for model, (i, o) in sorted(self._tokens.items()):
                price = price_for(model, self.session.prices)
                assert price is not None
                cost += cost_usd(price, i, o)
        return CallStats(
            live_calls=self.live,
            replayed_calls=self.replayed,
            input_tokens=sum(t[0] for t in self._tokens.values()),
            output_tokens=sum(t[1] for t in self._tokens.values()),
            cost_usd=cost,
            unpriced=unpriced,
            rate_limited=self.rate_limited,
            concurrency=self.spec.concurrency,
            lowest_concurrency=self.lowest,
            missing=self.missing,
            unavailable=self.unavailable,
            stopped_by_budget=self.budget_stop,
        )


class _JudgeCalls:
    """An llm_judge's provider: its calls are the current item's, through the run's gateway."""

    def __init__(self, calls: RunCalls, call: str, options: dict[str, Any]) -> None:
        self.calls, self.call, self.options = calls, call, options

    async def complete(self, request: LLMRequest) -> Completion:
        """Answer the judge's request as a call of the item being evaluated."""
        scope = CURRENT_ITEM.get()
        if scope is None:
            raise ModelError("an llm_judge call outside an experiment item")
        return await self.calls.complete(replace(request, options=self.options), scope, self.call)
