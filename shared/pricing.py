"""Cost of a call from a price map: prompt, cached prompt, cache writes, completion and reasoning tokens.

    python -c "from shared.pricing import Usage, cost; print(cost('openai/gpt-4o-mini', Usage(1000, 200, cached_input_tokens=800)))"

    cost = (input - cached - cache_write) * p_in + cached * p_cached + cache_write * p_write
         + (output - reasoning) * p_out + reasoning * p_reasoning            (prices per token)

OpenAI counts reasoning tokens inside completion_tokens and cached tokens inside prompt_tokens;
Anthropic reports cache reads and writes beside input_tokens. `usage_from` turns either shape
(or a LiteLLM Usage object) into one `Usage`, so the formula above is written once.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from shared.config import FIXTURES

PER_MILLION = 1_000_000


@dataclass(frozen=True)
class Price:
    model: str
    input: float
    output: float
    cached_input: float
    cache_write: float
    reasoning: float
    context_window: int
    provider: str


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(*(a + b for a, b in zip(asdict(self).values(), asdict(other).values(), strict=True)))


@dataclass
class Cost:
    model: str
    input: float
    cached_input: float
    cache_write: float
    output: float
    reasoning: float

    @property
    def total(self) -> float:
        return self.input + self.cached_input + self.cache_write + self.output + self.reasoning

    def as_dict(self) -> dict[str, float | str]:
        return {**asdict(self), "total": self.total}


@lru_cache(maxsize=8)
def load_prices(path: str | None = None) -> dict[str, Price]:
    raw = json.loads(Path(path or FIXTURES / "prices.json").read_text())["models"]
    return {name: Price(model=name, **fields) for name, fields in raw.items()}


class UnknownModelPrice(KeyError):
    pass


def price_for(model: str, prices: dict[str, Price] | None = None) -> Price:
    """Exact id first, then `openai/` added or removed, then glob patterns such as `mock/*`."""
    prices = prices or load_prices()
    candidates = [model]
    if "/" in model:
        candidates.append(model.split("/", 1)[1])
    else:
        candidates.append(f"openai/{model}")
    for name in candidates:
        if name in prices:
            return prices[name]
    for pattern, price in prices.items():
        if any(ch in pattern for ch in "*?[") and any(fnmatch.fnmatch(c, pattern) for c in candidates):
            return price
    raise UnknownModelPrice(f"no price for model {model!r}; add it to fixtures/prices.json")


def cost(model: str, usage: Usage, prices: dict[str, Price] | None = None) -> Cost:
    p = price_for(model, prices)
    uncached = max(usage.input_tokens - usage.cached_input_tokens - usage.cache_write_tokens, 0)
    visible_output = max(usage.output_tokens - usage.reasoning_tokens, 0)
    return Cost(
        model=model,
        input=uncached * p.input / PER_MILLION,
        cached_input=usage.cached_input_tokens * p.cached_input / PER_MILLION,
        cache_write=usage.cache_write_tokens * p.cache_write / PER_MILLION,
        output=visible_output * p.output / PER_MILLION,
        reasoning=usage.reasoning_tokens * p.reasoning / PER_MILLION,
    )


def _get(obj: Any, key: str, default: Any = None) -> Any:
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def usage_from(raw: Any) -> Usage:
    """Accept an OpenAI/LiteLLM `usage` (object or dict) or an Anthropic `usage` dict."""
    if raw is None:
        return Usage()
    if _get(raw, "prompt_tokens") is not None or _get(raw, "completion_tokens") is not None:
        prompt_details = _get(raw, "prompt_tokens_details")
        completion_details = _get(raw, "completion_tokens_details")
        return Usage(
            input_tokens=int(_get(raw, "prompt_tokens", 0) or 0),
            output_tokens=int(_get(raw, "completion_tokens", 0) or 0),
            cached_input_tokens=int(_get(prompt_details, "cached_tokens", 0) or 0),
            cache_write_tokens=int(_get(raw, "cache_creation_input_tokens", 0) or 0),
            reasoning_tokens=int(_get(completion_details, "reasoning_tokens", 0) or 0),
        )
    read = int(_get(raw, "cache_read_input_tokens", 0) or 0)
    write = int(_get(raw, "cache_creation_input_tokens", 0) or 0)
    return Usage(  # Anthropic: input_tokens excludes cache reads and writes
        input_tokens=int(_get(raw, "input_tokens", 0) or 0) + read + write,
        output_tokens=int(_get(raw, "output_tokens", 0) or 0),
        cached_input_tokens=read,
        cache_write_tokens=write,
    )


def litellm_cost_map(prices: dict[str, Price] | None = None, behaviours: list[str] | None = None) -> dict:
    """The same prices in LiteLLM's `register_model` shape, so litellm.completion_cost agrees with us."""
    prices = prices or load_prices()
    out: dict[str, dict] = {}
    for name, p in prices.items():
        names = [f"mock/{b}" for b in (behaviours or [])] if name == "mock/*" else [name]
        for model in names:
            out[model] = {
                "input_cost_per_token": p.input / PER_MILLION,
                "output_cost_per_token": p.output / PER_MILLION,
                "cache_read_input_token_cost": p.cached_input / PER_MILLION,
                "cache_creation_input_token_cost": p.cache_write / PER_MILLION,
                "max_input_tokens": p.context_window,
                "max_tokens": p.context_window,
                "litellm_provider": p.provider if p.provider != "mock" else "mock",
                "mode": "embedding" if "embed" in model else "chat",
            }
    return out
