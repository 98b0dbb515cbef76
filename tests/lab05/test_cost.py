"""Tokenization, pricing and the prompt-caching calculator (formula, simulation, the mock's cache)."""

from __future__ import annotations

import random

import pytest
import tiktoken

from labs.lab05_patterns import cost
from shared.pricing import Usage, price_for


def test_tokenize_round_trips_and_matches_tiktoken():
    text = "Prompt caching saves money — even for naïve prompts. 12345"
    out = cost.tokenize(text)
    assert "".join(out["pieces"]) == text
    assert out["ids"] == tiktoken.get_encoding("o200k_base").encode(text)


def test_estimate_uses_the_price_map():
    out = cost.estimate("hello there", "openai/gpt-4o", output_tokens=1000)
    p = price_for("openai/gpt-4o")
    n = out["usage"]["input_tokens"]
    assert out["cost_usd"]["total"] == pytest.approx(n * p.input / 1e6 + 1000 * p.output / 1e6)


@pytest.mark.parametrize("seed", range(5))
def test_hit_rate_formula_matches_a_poisson_simulation(seed):
    rng = random.Random(seed)
    rate, ttl = rng.uniform(0.001, 0.05), rng.uniform(30, 600)
    t, last, hits, n = 0.0, None, 0, 20000
    for _ in range(n):
        t += rng.expovariate(rate)
        hits += last is not None and t - last <= ttl
        last = t  # every request reads or writes the prefix, so each one refreshes the TTL
    assert hits / n == pytest.approx(cost.hit_rate_for(rate, ttl), abs=0.015)


@pytest.mark.parametrize("model", ["anthropic/claude-sonnet-4", "openai/gpt-4o", "anthropic/claude-3-5-haiku"])
def test_savings_cross_zero_at_the_break_even_hit_rate(model):
    plan = cost.cache_savings(model, 5000, 300, 100, hit_rate=0.5)
    h = plan.break_even_hit_rate
    if h is None or h <= 0:  # OpenAI: writes cost no more than input, any hit saves
        assert plan.savings > 0
        return
    at = cost.cache_savings(model, 5000, 300, 100, hit_rate=h)
    assert at.cost_with_cache == pytest.approx(at.cost_without_cache)
    assert cost.cache_savings(model, 5000, 300, 100, hit_rate=h / 2).savings < 0
    assert cost.cache_savings(model, 5000, 300, 100, hit_rate=min(1, h * 2)).savings > 0


def test_calculator_agrees_with_pricing_each_request():
    model, prefix, suffix, n = "anthropic/claude-sonnet-4", 2000, 100, 10
    plan = cost.cache_savings(model, prefix, suffix, n, hit_rate=(n - 1) / n)
    from shared.pricing import cost as price

    first = price(model, Usage(input_tokens=prefix + suffix, cache_write_tokens=prefix)).total
    later = price(model, Usage(input_tokens=prefix + suffix, cached_input_tokens=prefix)).total
    assert plan.cost_with_cache == pytest.approx(first + (n - 1) * later)


def test_measured_savings_on_the_mock_cache_match_the_prediction(model):
    out = cost.measure_cache(model, requests=6, prefix_tokens=2000)
    assert out["calls"][0]["cached_tokens"] == 0
    assert all(c["cached_tokens"] >= 1024 for c in out["calls"][1:])
    assert out["measured_savings"] > 0.3
    assert out["measured_savings"] == pytest.approx(out["predicted_savings"], abs=0.02)
