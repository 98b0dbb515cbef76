"""The official openai SDK against the HTTP mock: sync, async, streaming, tools, structured, embeddings, errors."""

from __future__ import annotations

import base64
import json
import time

import numpy as np
import openai
import pytest
from pydantic import BaseModel

from tests.mockllm.conftest import FX, WEATHER


def test_sync_chat_answers_and_reports_usage(openai_client):
    resp = openai_client.chat.completions.create(
        model="assistant", messages=[{"role": "user", "content": "What is 12 * 7?"}])
    assert resp.choices[0].message.content == "84"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage.prompt_tokens > 5 and resp.usage.completion_tokens == 1
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
    assert resp.usage.prompt_tokens_details.cached_tokens == 0


async def test_async_chat_fan_out(async_openai_client):
    import asyncio

    questions = [f"What is {i} + {i}?" for i in range(8)]
    answers = await asyncio.gather(*[async_openai_client.chat.completions.create(
        model="assistant", messages=[{"role": "user", "content": q}]) for q in questions])
    assert [a.choices[0].message.content for a in answers] == [str(2 * i) for i in range(8)]


def test_streaming_with_usage_reassembles_the_answer(openai_client):
    stream = openai_client.chat.completions.create(
        model="assistant", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Summarize: The cache was cold. Latency rose. Then it warmed."}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "The cache was cold. Latency rose."
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 3  # token by token
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 3
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]


def test_tool_call_then_answer_from_the_result(openai_client):
    messages = [{"role": "user", "content": "What's the weather in Paris in fahrenheit?"}]
    first = openai_client.chat.completions.create(model="assistant", messages=messages, tools=[WEATHER, FX])
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris", "unit": "fahrenheit"}
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temp_f": 64, "sky": "cloudy"})}]
    final = openai_client.chat.completions.create(model="assistant", messages=messages, tools=[WEATHER, FX])
    assert final.choices[0].message.tool_calls is None
    assert "64" in final.choices[0].message.content and "cloudy" in final.choices[0].message.content


def test_parallel_tool_calls_and_tool_choice(openai_client):
    ask = "Convert 250 dollars to euros and tell me the weather in Tokyo and in Oslo"
    resp = openai_client.chat.completions.create(model="assistant", tools=[WEATHER, FX],
                                                 messages=[{"role": "user", "content": ask}])
    calls = [(c.function.name, json.loads(c.function.arguments)) for c in resp.choices[0].message.tool_calls]
    assert calls[0] == ("convert_currency", {"amount": 250.0, "from_currency": "USD", "to_currency": "EUR"})
    assert [c[1]["city"] for c in calls[1:]] == ["Tokyo", "Oslo"]
    assert len({c.id for c in resp.choices[0].message.tool_calls}) == 3
    single = openai_client.chat.completions.create(model="assistant", tools=[WEATHER, FX], parallel_tool_calls=False,
                                                   messages=[{"role": "user", "content": ask}])
    assert len(single.choices[0].message.tool_calls) == 1
    forced = openai_client.chat.completions.create(
        model="assistant", tools=[WEATHER, FX], messages=[{"role": "user", "content": "Hello there"}],
        tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assert forced.choices[0].message.tool_calls[0].function.name == "get_weather"
    none = openai_client.chat.completions.create(model="assistant", tools=[WEATHER], tool_choice="none",
                                                 messages=[{"role": "user", "content": "Weather in Rome?"}])
    assert none.choices[0].message.tool_calls is None


def test_streamed_tool_calls_accumulate_to_valid_arguments(openai_client):
    stream = openai_client.chat.completions.create(
        model="assistant", stream=True, tools=[WEATHER, FX],
        messages=[{"role": "user", "content": "weather in Lisbon and in Madrid"}])
    calls: dict[int, dict] = {}
    for chunk in stream:
        for tc in chunk.choices[0].delta.tool_calls or []:
            slot = calls.setdefault(tc.index, {"name": "", "arguments": ""})
            slot["name"] += tc.function.name or ""
            slot["arguments"] += tc.function.arguments or ""
    assert [(c["name"], json.loads(c["arguments"])["city"]) for _, c in sorted(calls.items())] == [
        ("get_weather", "Lisbon"), ("get_weather", "Madrid")]


class Person(BaseModel):
    name: str
    age: int
    email: str


def test_json_schema_and_parse(openai_client):
    text = "Extract: Grace Hopper is 85 years old, email grace@navy.mil"
    parsed = openai_client.chat.completions.parse(model="assistant", response_format=Person,
                                                  messages=[{"role": "user", "content": text}])
    assert parsed.choices[0].message.parsed == Person(name="Grace Hopper", age=85, email="grace@navy.mil")
    raw = openai_client.chat.completions.create(
        model="assistant", messages=[{"role": "user", "content": text}],
        response_format={"type": "json_object"})
    assert json.loads(raw.choices[0].message.content)


def test_embeddings_float_and_base64_agree(openai_client):
    texts = ["reset my password", "password reset", "quarterly revenue report"]
    floats = openai_client.embeddings.create(model="embedding", input=texts, encoding_format="float")
    # the SDK asks for base64 by default and decodes it to floats itself
    decoded = openai_client.embeddings.create(model="embedding", input=texts)
    a = np.array([d.embedding for d in floats.data])
    b = np.array([d.embedding for d in decoded.data])
    assert a.shape == (3, 256) and np.allclose(a, b, atol=1e-6)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert a[0] @ a[1] > a[0] @ a[2]  # lexically near texts are near
    assert floats.usage.prompt_tokens > 0
    raw = openai_client.embeddings.with_raw_response.create(model="embedding", input="x y z",
                                                            encoding_format="base64", dimensions=64)
    vector = np.frombuffer(base64.b64decode(raw.http_response.json()["data"][0]["embedding"]), dtype="<f4")
    assert vector.shape == (64,)


def test_embeddings_of_token_ids_equal_the_text(openai_client):
    """Some clients (LangChain's OpenAIEmbeddings) send cl100k token ids instead of text."""
    import tiktoken

    ids = tiktoken.get_encoding("cl100k_base").encode("reset my password")
    by_ids = openai_client.embeddings.create(model="embedding", input=[ids, ids[:1]], encoding_format="float")
    by_text = openai_client.embeddings.create(model="embedding", input=["reset my password", "reset"],
                                              encoding_format="float")
    assert [d.embedding for d in by_ids.data] == [d.embedding for d in by_text.data]
    one = openai_client.embeddings.create(model="embedding", input=ids, encoding_format="float")
    assert one.data[0].embedding == by_text.data[0].embedding


def test_models_list_behaviours_and_embedding(openai_client):
    ids = {m.id for m in openai_client.models.list()}
    assert {"assistant", "noisy", "reasoning", "fallible", "embedding"} <= ids
    assert openai_client.models.retrieve("assistant").id == "assistant"
    with pytest.raises(openai.NotFoundError):
        openai_client.models.retrieve("gpt-17")


@pytest.mark.parametrize(("status", "error"), [(429, openai.RateLimitError), (500, openai.InternalServerError),
                                               (503, openai.InternalServerError), (400, openai.BadRequestError)])
def test_errors_map_to_the_sdk_exception_classes(openai_client, status, error):
    with pytest.raises(error) as info:
        openai_client.chat.completions.create(model="assistant", messages=[{"role": "user", "content": "hi"}],
                                              extra_headers={"x-mock-error-status": str(status)})
    assert info.value.status_code == status
    assert info.value.body["message"]


def test_unknown_model_is_not_found(openai_client):
    with pytest.raises(openai.NotFoundError):
        openai_client.chat.completions.create(model="gpt-17", messages=[{"role": "user", "content": "hi"}])


def test_sdk_retry_honours_retry_after(live_mock):
    """A 429 with retry-after: 2, then success: the SDK's own retry waits the 2 s the server asked for
    (its default backoff before a first retry is 0.375-0.5 s, so a lost header would show)."""
    import httpx

    sent: list[float] = []
    client = openai.OpenAI(base_url=f"{live_mock}/v1", api_key="mock", max_retries=2,
                           http_client=httpx.Client(event_hooks={"request": [lambda _: sent.append(time.perf_counter())]}))
    resp = client.chat.completions.create(
        model="assistant", messages=[{"role": "user", "content": "retry test: what is 2 + 3?"}],
        extra_body={"mock": {"fail_first": 1, "error_status": 429, "retry_after": 2}})
    assert resp.choices[0].message.content == "5"
    assert len(sent) == 2
    assert 1.95 < sent[1] - sent[0] < 5


def test_hang_times_out_on_the_client(openai_client):
    start = time.perf_counter()
    with pytest.raises(openai.APITimeoutError):
        openai_client.chat.completions.create(model="assistant", messages=[{"role": "user", "content": "hi"}],
                                              extra_headers={"x-mock-hang": "1"}, timeout=0.5)
    assert time.perf_counter() - start < 10, "the client gave up; the mock never answers a hang"


def test_ttft_and_tpot_shape_the_stream(openai_client):
    start = time.perf_counter()
    stream = openai_client.chat.completions.create(
        model="assistant", stream=True, messages=[{"role": "user", "content": "What is the capital of Japan?"}],
        extra_headers={"x-mock-ttft-ms": "300", "x-mock-tpot-ms": "20"})
    arrivals = [time.perf_counter() - start for _ in stream]
    assert arrivals[0] >= 0.28
    assert arrivals[-1] - arrivals[0] >= 0.02 * (len(arrivals) - 2)


def test_truncated_stream_has_no_finish(openai_client):
    stream = openai_client.chat.completions.create(
        model="assistant", stream=True, messages=[{"role": "user", "content": "Summarize: one. two. three."}],
        extra_headers={"x-mock-truncate-rate": "1"})
    chunks = list(stream)
    assert chunks and not any(c.choices and c.choices[0].finish_reason for c in chunks)


def test_prompt_cache_reports_cached_tokens(openai_client):
    manual = "Runbook for the payments service. " + " ".join(f"Step {i}: check dashboard panel {i}." for i in
                                                            range(300))
    messages = [{"role": "system", "content": manual}, {"role": "user", "content": "What is step 7?"}]
    first = openai_client.chat.completions.create(model="assistant", messages=messages)
    second = openai_client.chat.completions.create(
        model="assistant", messages=[*messages[:1], {"role": "user", "content": "And step 9?"}])
    assert first.usage.prompt_tokens > 2048
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert cached >= 1024 and (cached - 1024) % 128 == 0
    assert first.usage.prompt_tokens - 128 < cached + 128  # all but the changed tail
