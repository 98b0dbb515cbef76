import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.pricing import (
    PER_MILLION,
    UnknownModelPrice,
    Usage,
    cost,
    litellm_cost_map,
    price_for,
    usage_from,
)


def test_every_mock_behaviour_has_a_price():
    assert price_for("mock/assistant").provider == "mock"
    assert price_for("mock/anything-new").input > 0


def test_known_model_and_prefix_rules():
    assert price_for("gpt-4o-mini") == price_for("openai/gpt-4o-mini")
    with pytest.raises(UnknownModelPrice):
        price_for("nobody/unknown-model")


def test_cost_formula_by_hand():
    # 1,000 prompt tokens of which 800 cached, 200 completion tokens of which 50 reasoning
    c = cost("openai/gpt-4o-mini", Usage(1000, 200, cached_input_tokens=800, reasoning_tokens=50))
    p = price_for("openai/gpt-4o-mini")
    expected = (200 * p.input + 800 * p.cached_input + 150 * p.output + 50 * p.reasoning) / PER_MILLION
    assert c.total == pytest.approx(expected)


@given(st.integers(0, 10**6), st.integers(0, 10**5), st.floats(0, 1), st.floats(0, 1))
def test_cache_never_costs_more_than_no_cache(inp, out, cached_share, reasoning_share):
    cached = int(inp * cached_share)
    reasoning = int(out * reasoning_share)
    with_cache = cost("openai/gpt-4o", Usage(inp, out, cached_input_tokens=cached, reasoning_tokens=reasoning))
    without = cost("openai/gpt-4o", Usage(inp, out, reasoning_tokens=reasoning))
    assert with_cache.total <= without.total + 1e-12


def test_usage_from_openai_and_anthropic_shapes():
    openai_usage = {"prompt_tokens": 1200, "completion_tokens": 30,
                    "prompt_tokens_details": {"cached_tokens": 1024},
                    "completion_tokens_details": {"reasoning_tokens": 10}}
    assert usage_from(openai_usage) == Usage(1200, 30, cached_input_tokens=1024, reasoning_tokens=10)
    anthropic_usage = {"input_tokens": 20, "output_tokens": 5, "cache_read_input_tokens": 1100,
                       "cache_creation_input_tokens": 0}
    assert usage_from(anthropic_usage) == Usage(1120, 5, cached_input_tokens=1100)


def test_litellm_agrees_with_our_prices():
    from shared.llm import litellm_module

    litellm = litellm_module()
    ours = cost("openai/gpt-4o", Usage(1000, 100)).total
    theirs = litellm.cost_per_token(model="openai/gpt-4o", prompt_tokens=1000, completion_tokens=100)
    assert sum(theirs) > 0  # LiteLLM has its own list; ours is the teaching map
    mapped = litellm_cost_map(behaviours=["assistant"])["mock/assistant"]
    assert mapped["input_cost_per_token"] == price_for("mock/assistant").input / PER_MILLION
    assert ours > 0
