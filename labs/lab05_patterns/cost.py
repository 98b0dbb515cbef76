"""Cost: tokens from a real tokenizer, prices from the price map, and what prompt caching saves.

    curl -s localhost:8005/cost/estimate -H 'content-type: application/json' \
      -d '{"text": "How many tokens is this?", "model": "openai/gpt-4o-mini", "output_tokens": 200}'
    curl -s localhost:8005/cost/cache -H 'content-type: application/json' \
      -d '{"model": "anthropic/claude-sonnet-4", "prefix_tokens": 4000, "suffix_tokens": 200, "requests": 1000}'

A request of P cached-prefix tokens and S fresh tokens, repeated N times at rate lambda:

    h       = 1 - exp(-lambda * TTL)              hit rate when every hit refreshes the TTL (Poisson arrivals)
    C_none  = N * (P + S) * p_in
    C_cache = N * (h * P * p_read + (1 - h) * P * p_write + S * p_in)
    savings = 1 - C_cache / C_none
    h*      = (p_write - p_in) / (p_write - p_read)   break-even hit rate (caching pays above it)

OpenAI bills writes at the input price (p_write = p_in, so any hit saves); Anthropic at 1.25x, so a
prefix read fewer than about one time in four costs more with caching than without.
`measure_cache` sends real calls to the mock's simulated cache and prices what it reports.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import shared.mockllm.tokens as tokens
from shared.llm import Model
from shared.pricing import Usage, cost, price_for


def tokenize(text: str) -> dict[str, Any]:
    """o200k_base token ids and the text piece each one stands for."""
    enc = tokens.encoding()
    ids = enc.encode(text, disallowed_special=())
    return {"tokens": len(ids), "ids": ids, "pieces": [enc.decode([i]) for i in ids], "chars": len(text)}


def estimate(text: str, model: str, output_tokens: int = 0, cached_tokens: int = 0) -> dict[str, Any]:
    """What one call with this prompt would cost (prompt counted with the chat framing)."""
    input_tokens = tokens.count_messages([{"role": "user", "content": text}])
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens,
                  cached_input_tokens=min(cached_tokens, input_tokens))
    c = cost(model, usage)
    return {"model": model, "usage": asdict(usage), "cost_usd": c.as_dict(), "price_per_million": asdict(price_for(model))}


@dataclass
class CachePlan:
    model: str
    prefix_tokens: int
    suffix_tokens: int
    requests: int
    hit_rate: float
    cost_without_cache: float
    cost_with_cache: float
    savings: float
    break_even_hit_rate: float | None


def hit_rate_for(rate_per_s: float, ttl_s: float) -> float:
    """P(the previous request came within the TTL) for Poisson arrivals at rate lambda."""
    return 1 - math.exp(-rate_per_s * ttl_s)


def cache_savings(model: str, prefix_tokens: int, suffix_tokens: int, requests: int,
                  hit_rate: float | None = None, rate_per_s: float | None = None, ttl_s: float = 300.0) -> CachePlan:
    p = price_for(model)
    if hit_rate is None:
        hit_rate = hit_rate_for(rate_per_s, ttl_s) if rate_per_s is not None else (requests - 1) / requests
    p_in, p_read, p_write = p.input / 1e6, p.cached_input / 1e6, p.cache_write / 1e6
    none = requests * (prefix_tokens + suffix_tokens) * p_in
    with_cache = requests * (hit_rate * prefix_tokens * p_read + (1 - hit_rate) * prefix_tokens * p_write
                             + suffix_tokens * p_in)
    break_even = (p_write - p_in) / (p_write - p_read) if p_write != p_read else None
    return CachePlan(model, prefix_tokens, suffix_tokens, requests, hit_rate, none, with_cache,
                     1 - with_cache / none if none else 0.0, break_even)


def measure_cache(model: Model, requests: int = 10, prefix_tokens: int = 2000) -> dict[str, Any]:
    """Send `requests` calls sharing a long system prompt to the model; price what its cache reports."""
    sentence = "Policy clause: refunds are processed within five business days of approval. "
    run = uuid.uuid4().hex[:12]  # a fresh prefix, so the first call of every measurement starts cold
    system = f"Policy set {run}. " + sentence * max(1, prefix_tokens // max(1, tokens.count(sentence)))
    total, calls = Usage(), []
    for i in range(requests):
        c = model.complete(f"Question {i}: what is {i} + {i + 1}?", system=system)
        total = total + c.usage
        calls.append({"input_tokens": c.usage.input_tokens, "cached_tokens": c.usage.cached_input_tokens})
    billed = cost(model.id, total)
    baseline = cost(model.id, Usage(input_tokens=total.input_tokens, output_tokens=total.output_tokens))
    prompt_billed = billed.input + billed.cached_input + billed.cache_write
    prefix = max(c["cached_tokens"] for c in calls)
    predicted = cache_savings(model.id, prefix, round(total.input_tokens / requests) - prefix, requests,
                              hit_rate=(requests - 1) / requests)
    return {"requests": requests, "system_prompt_tokens": tokens.count(system), "calls": calls,
            "cached_fraction": total.cached_input_tokens / total.input_tokens,
            "prompt_cost_usd": prompt_billed, "prompt_cost_without_cache_usd": baseline.input,
            "measured_savings": 1 - prompt_billed / baseline.input,
            "predicted_savings": predicted.savings}
