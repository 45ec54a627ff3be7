"""Prices, and the cost details each generation sends to Langfuse (real SDKs against both doubles)."""

from __future__ import annotations

import json

import pytest

from promptops.cost import PRICES, CallStats, CostSummary, cost_usd, format_usd, price_for
from promptops.model import DatasetItem, DatasetSpec, EvaluatorSpec, ExperimentSpec, ModelPrice, RenderedPrompt
from promptops.model_calls import ModelSession
from promptops.runner import run
from promptops.tracing import Subject
from promptops.tracing.langfuse import LangfuseTracer
from tests.langfuse_double.server import LangfuseDouble
from tests.openai_double.server import OpenAIDouble


@pytest.mark.parametrize(
    ("model", "price"),
    [
        ("gpt-4o-mini", ModelPrice(0.15, 0.60)),
        ("gpt-4o-mini-2024-07-18", ModelPrice(0.15, 0.60)),  # a dated snapshot costs its family's price
        ("gpt-4o-2024-08-06", ModelPrice(2.50, 10.00)),  # gpt-4o, not gpt-4 (the longest family wins)
        ("openai:gpt-4.1-mini", ModelPrice(0.40, 1.60)),
        ("o3-mini", ModelPrice(1.10, 4.40)),
        ("mock-llm-v1", ModelPrice(0.0, 0.0)),
        ("openai:llama3", None),
    ],
)
def test_the_built_in_prices(model: str, price: ModelPrice | None) -> None:
    assert price_for(model) == price


def test_config_prices_come_first() -> None:
    overrides = {"gpt-4o-mini": ModelPrice(0.1, 0.2), "openai:llama3": ModelPrice(0.0, 0.0)}
    assert price_for("gpt-4o-mini-2024-07-18", overrides) == ModelPrice(0.1, 0.2)
    assert price_for("openai:llama3", overrides) == ModelPrice(0.0, 0.0)
    assert PRICES["gpt-4o-mini"] == ModelPrice(0.15, 0.60)  # the table itself is untouched


def test_cost_is_tokens_times_price_per_million() -> None:
    assert cost_usd(ModelPrice(0.15, 0.60), 1_000_000, 1_000_000) == 0.75
    assert cost_usd(ModelPrice(0.15, 0.60), 2000, 100) == (2000 * 0.15 + 100 * 0.60) / 1_000_000
    assert [format_usd(v) for v in (0.0, 0.0123456, 0.000072, None)] == ["$0.0000", "$0.0123", "$0.000072", "unknown"]


def test_a_summary_without_a_price_has_no_total() -> None:
    known, unknown = CallStats(live_calls=1, cost_usd=0.5), CallStats(live_calls=1, cost_usd=None, unpriced=("x",))
    assert CostSummary(known, known).total_usd == 1.0
    assert CostSummary(known, unknown).total_usd is None
    assert unknown.describe() == (
        "cost unknown (1 live call; 0 input and 0 output tokens billed); no price for x: add it under `prices` in "
        "the project config"
    )


def test_each_generation_sends_its_cost_details_to_langfuse(
    langfuse_double: LangfuseDouble, openai_double: OpenAIDouble
) -> None:
    rendered = RenderedPrompt("caps", "text", "What is the capital of {{country}}?", {}, (), (), "sha256:k", "c.yaml")
    spec = ExperimentSpec("d", model="gpt-4o-mini", evaluators=(EvaluatorSpec("exact_match", "exact_match"),))
    data = DatasetSpec("d", "d.yaml", items=(DatasetItem("fr", {"country": "France"}, "Paris"),))
    tracer = LangfuseTracer(langfuse_double.client())
    calls = ModelSession().run_calls("caps", "sha256:k", spec)
    result = run(Subject(rendered, 2, "version 2"), data, spec, tracer=tracer, calls=calls)
    tracer.client.flush()
    (item,) = result.items
    (generation,) = [s for s in langfuse_double.spans(item.trace_id) if s.name == "prompt-managed-call"]
    price = PRICES["gpt-4o-mini"]
    expected_in, expected_out = cost_usd(price, item.input_tokens, 0), cost_usd(price, 0, item.output_tokens)
    assert json.loads(generation.attributes["langfuse.observation.cost_details"]) == {
        "input": expected_in,
        "output": expected_out,
        "total": expected_in + expected_out,
    }
    assert json.loads(generation.attributes["langfuse.observation.usage_details"]) == {
        "input": item.input_tokens,
        "output": item.output_tokens,
    }
