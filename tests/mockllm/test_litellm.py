"""LiteLLM in-process (the custom provider behind shared.llm) and over HTTP (api_base to the live server)."""

from __future__ import annotations

import litellm
import pytest

from shared import llm
from tests.mockllm.conftest import WEATHER


def test_in_process_complete_stream_embed():
    done = llm.complete("What is 9 * 9?")
    assert done.text == "81" and done.usage.input_tokens > 0 and done.cost_usd >= 0
    events = list(llm.stream("Summarize: Queues grew. Workers lagged. We scaled out."))
    assert "".join(e.delta for e in events) == "Queues grew. Workers lagged."
    assert events[-1].done and events[-1].completion.usage.output_tokens > 3
    vectors = llm.embed(["alpha beta", "alpha beta gamma"])
    assert len(vectors) == 2 and len(vectors[0]) == 256


async def test_in_process_async_and_tools():
    done = await llm.acomplete("What's the weather in Cairo?", tools=[WEATHER])
    assert done.tool_calls[0].name == "get_weather" and done.tool_calls[0].json_args()["city"] == "Cairo"
    chunks = [e async for e in llm.astream("What is 100 / 8?")]
    assert chunks[-1].completion.text == "12.5"


def test_in_process_faults_map_to_litellm_exceptions():
    with pytest.raises(litellm.RateLimitError):
        llm.complete("hi", mock={"error_status": 429})
    with pytest.raises(litellm.InternalServerError):
        llm.complete("hi", mock={"error_status": 500})
    with pytest.raises(litellm.Timeout):
        llm.complete("hi", mock={"hang": True}, timeout=0.2)


async def test_in_process_latency_past_the_timeout_times_out_like_a_socket():
    import time

    start = time.perf_counter()
    with pytest.raises(litellm.Timeout):
        llm.complete("hi", mock={"latency_ms": 5000}, timeout=0.2)
    with pytest.raises(litellm.Timeout):
        await llm.acomplete("hi", mock={"latency_ms": 5000}, timeout=0.2)
    assert time.perf_counter() - start < 5.0, "each call was cut at its timeout, not after the 5 s latency"
    assert llm.complete("What is 2 + 2?", mock={"latency_ms": 50}, timeout=1).text == "4"


def test_in_process_cost_is_stamped_by_the_provider_and_equals_the_price_map():
    from shared.llm import litellm_module

    raw = litellm_module().completion(model="mock/assistant", messages=[{"role": "user", "content": "What is 2+2?"}])
    assert raw._hidden_params["response_cost"] == pytest.approx(llm.complete("What is 2+2?").cost_usd)
    assert raw._hidden_params["response_cost"] > 0


def test_in_process_reasoning_tokens_and_effort():
    low = llm.complete("What is 17 * 23?", model="mock/reasoning", reasoning_effort="low", seed=1)
    high = llm.complete("What is 17 * 23?", model="mock/reasoning", reasoning_effort="high", seed=1)
    assert low.text == high.text == "391"
    assert 0 < low.usage.reasoning_tokens < high.usage.reasoning_tokens <= high.usage.output_tokens
    assert high.cost_usd > low.cost_usd


def test_over_http_with_api_base(live_mock):
    resp = litellm.completion(model="openai/assistant", api_base=f"{live_mock}/v1", api_key="mock",
                              messages=[{"role": "user", "content": "What is the largest planet?"}])
    assert resp.choices[0].message.content == "Jupiter"
    stream = litellm.completion(model="openai/assistant", api_base=f"{live_mock}/v1", api_key="mock", stream=True,
                                stream_options={"include_usage": True},
                                messages=[{"role": "user", "content": "Who is the author of Hamlet?"}])
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "William Shakespeare"
    emb = litellm.embedding(model="openai/embedding", api_base=f"{live_mock}/v1", api_key="mock", input=["a b c"])
    assert len(emb.data[0]["embedding"]) == 256


def test_over_http_errors_and_mock_options(live_mock):
    with pytest.raises(litellm.RateLimitError):
        litellm.completion(model="openai/assistant", api_base=f"{live_mock}/v1", api_key="mock", num_retries=0,
                           messages=[{"role": "user", "content": "hi"}], extra_headers={"x-mock-error-status": "429"})
    settings = llm.get_settings(llm_api_base=f"{live_mock}/v1", llm_api_key="mock")
    done = llm.complete("What is 6 * 7?", model="openai/noisy", settings=settings, temperature=0.9,
                        mock={"p": 1.0, "seed": 4})
    assert done.text.endswith("The answer is 42.")


def test_over_http_anthropic_front(live_mock):
    resp = litellm.completion(model="anthropic/assistant", api_base=live_mock, api_key="mock", max_tokens=50,
                              messages=[{"role": "system", "content": "Reply in one word."},
                                        {"role": "user", "content": "What is the capital of Canada?"}])
    assert resp.choices[0].message.content == "Ottawa"
    assert resp.usage.prompt_tokens > 0
