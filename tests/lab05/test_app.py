"""The service: every route answers, bad input is a clear 4xx, stored data survives misuse."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from labs.lab05_patterns.app import create_app
from shared import llm


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def chat(client, content="What is 6 * 7?", headers=None, **extra):
    return client.post("/chat", json={"messages": [{"role": "user", "content": content}], **extra},
                       headers=headers or {})


def test_chat_masks_pii_and_passes_sampling_params(client):
    r = chat(client, "What is 6 * 7? Card 4111 1111 1111 1111", temperature=0.3, top_p=0.9, presence_penalty=0.5)
    body = r.json()
    assert r.status_code == 200 and body["text"] == "42" and body["pii_masked"] == {"CARD": 1}
    assert "4111" not in body["sent"][0]["content"]


def test_chat_hands_every_sampling_param_to_the_model(client, monkeypatch):
    seen = {}
    real = llm.acomplete

    async def spy(messages, **kwargs):
        seen.update(kwargs)
        return await real(messages, **kwargs)

    monkeypatch.setattr(llm, "acomplete", spy)
    params = {"temperature": 0.3, "top_p": 0.9, "frequency_penalty": 0.4, "presence_penalty": 0.5,
              "max_tokens": 20, "seed": 7}
    assert chat(client, **params).status_code == 200
    assert {k: seen[k] for k in params} == params


def test_temperature_reaches_the_mock(client):
    def text(**extra):
        return chat(client, "What is 6 * 7?", **extra).json()["text"]

    greedy = {text(temperature=0, seed=s) for s in range(4)}
    sampled = {text(temperature=1.0, seed=s) for s in range(4)}
    assert greedy == {"42"} and len(sampled) > 1 and all("42" in t for t in sampled)


def test_readiness_loads_the_model_layer(client):
    assert client.app.state.warmup.wait(60), "the model layer is loaded at start-up, not by the first request"
    body = client.get("/readyz").json()
    assert body["checks"]["model"] == {"ok": True, "detail": "mock/assistant"}
    assert llm._litellm is not None


def test_idempotent_retry_makes_no_second_call(client):
    first = chat(client, headers={"idempotency-key": "abc"}).json()
    again = chat(client, headers={"idempotency-key": "abc"}).json()
    usage = client.get("/tenants/public/usage").json()
    assert again["replayed"] and again["text"] == first["text"] and usage["requests"] == 1


@pytest.mark.parametrize("body", [
    {"messages": []},
    {"messages": [{"role": "user", "content": ""}]},
    {"messages": [{"role": "wizard", "content": "hi"}]},
    {"messages": [{"role": "user", "content": "hi"}], "temperature": -0.1},
    {"messages": [{"role": "user", "content": "hi"}], "top_p": 0},
    {"messages": [{"role": "user", "content": "hi"}], "top_p": 1.2},
    {"messages": [{"role": "user", "content": "hi"}], "model": "nobody/knows"},
])
def test_bad_chat_input_is_4xx(client, body):
    r = client.post("/chat", json=body)
    assert 400 <= r.status_code < 500 and "error" in r.json()


def test_malformed_json_is_400(client):
    r = client.post("/chat", content=b'{"messages": [', headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_json"


def test_oversized_prompt_is_413_before_any_call(client):
    """Each message is within its 100,000-character cap; together they are past the 128k-token window."""
    messages = [{"role": "user", "content": "a " * 45_000} for _ in range(3)]
    r = client.post("/chat", json={"messages": messages})
    assert r.status_code == 413 and r.json()["error"]["type"] == "context_length_exceeded"
    assert client.get("/tenants/public/usage").json()["requests"] == 0


def test_unknown_tenant_and_forbidden_model(client):
    assert chat(client, headers={"x-tenant-id": "mallory"}).status_code == 403
    r = chat(client, headers={"x-tenant-id": "tiny"}, model="mock/noisy")
    assert r.status_code == 403 and r.json()["error"]["type"] == "model_not_allowed"
    assert client.get("/tenants/mallory/usage").status_code == 404


def test_rate_limit_per_tenant_is_isolated(client):
    codes = [chat(client, "What is 1 + 1?", headers={"x-tenant-id": "tiny"}).status_code for _ in range(3)]
    assert codes[0] == 200 and codes[-1] == 429
    assert chat(client, headers={"x-tenant-id": "acme"}).status_code == 200


def test_stream_route_sends_sse(client):
    with client.stream("POST", "/chat/stream", json={"messages": [{"role": "user", "content": "What is 2 + 2?"}]}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    assert 'event: delta\ndata: {"text": "4"}' in text and "event: done" in text


def test_sampling_route_validates(client):
    assert client.post("/sampling", json={"logits": [1, 2], "counts": [1]}).status_code == 422
    assert client.post("/sampling", json={"logits": []}).status_code == 422
    assert client.post("/sampling", json={"logits": [1, 2], "counts": [-1, 0]}).status_code == 422
    assert client.post("/sampling", json={"logits": [1, 2], "counts": [10**400, 0]}).status_code == 422
    for extreme in ({"logits": [1e308, -1e308], "temperature": 0.5}, {"logits": [1, 2], "temperature": 5e-324}):
        r = client.post("/sampling", json=extreme)
        assert r.status_code == 200 and r.json()["kept"] == 1, r.text
    ok = client.post("/sampling", json={"logits": [1, 2, 3], "counts": [0, 0, 5], "frequency_penalty": 1}).json()
    assert ok["argmax"] == 1 and abs(sum(ok["probs"]) - 1) < 1e-5


def test_extract_orchestrate_and_tools_reject_unknown_names(client):
    assert client.post("/extract", json={"text": "x", "level": "xml"}).status_code == 422
    assert client.post("/orchestrate/nope", json={"inputs": ["x"]}).status_code == 404
    assert client.post("/orchestrate/sequential", json={"inputs": []}).status_code == 422
    assert client.post("/tools/run", json={"question": "x", "tools": ["rm_rf"]}).status_code == 422
    assert client.post("/tools/run", json={"question": "x", "tools": []}).status_code == 422


@pytest.mark.parametrize("level", ["prompt", "json", "tools"])
def test_extract_maps_provider_faults_to_4xx_5xx_not_a_bad_answer(client, level):
    text = "Ada Lovelace is 36, an engineer, ada@example.com"
    limited = client.post("/extract", json={"text": text, "level": level, "mock": {"error_status": 429}})
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
    down = client.post("/extract", json={"text": text, "level": level, "mock": {"error_status": 503}})
    assert down.status_code == 502 and down.json()["error"]["type"] == "upstream_error"


def test_orchestrate_self_consistency_route(client):
    r = client.post("/orchestrate/self_consistency", json={"inputs": ["What is 17 * 23?"], "model": "mock/noisy",
                                                           "k": 7, "mock": {"p": 0.6}})
    body = r.json()
    assert r.status_code == 200 and body["answer"]["vote"] == "391" and len(body["calls"]) == 7
    assert body["max_in_flight"] == 7, "the seven samples were in flight together"


def test_resilient_route_falls_back_and_opens_the_breaker(client):
    for _ in range(3):
        r = client.post("/resilient", json={"prompt": "What is 2 + 2?", "primary_faults": {"error_status": 500},
                                            "max_attempts": 1}).json()
        assert r["ok"] and r["answer"] == "4"
    states = {b["name"]: b["state"] for b in client.get("/breakers").json()}
    assert states["mock/assistant"] == "open"
    r = client.post("/resilient", json={"prompt": "What is 2 + 2?"}).json()
    assert r["hops"][0]["outcome"] == "circuit_open"


def test_cost_routes(client):
    assert client.post("/cost/estimate", json={"text": "x", "model": "nope/nope"}).status_code == 400
    plan = client.post("/cost/cache", json={"model": "openai/gpt-4o", "prefix_tokens": 2000, "requests": 10}).json()
    assert plan["savings"] > 0 and plan["hit_rate"] == 0.9
    assert client.post("/cost/cache", json={"prefix_tokens": -1}).status_code == 422


def test_streamed_usage_is_charged_to_the_tenant(client):
    with client.stream("POST", "/chat/stream", headers={"x-tenant-id": "acme"},
                       json={"messages": [{"role": "user", "content": "What is 2 + 2?"}]}) as r:
        "".join(r.iter_text())
    usage = client.get("/tenants/acme/usage").json()
    assert usage["requests"] == 1 and usage["tokens"] > 0


def test_a_stream_the_client_left_is_still_billed(client, monkeypatch):
    """The provider generated the tokens before the client left: the tenant pays for prompt + streamed text."""
    from labs.lab05_patterns import gateway
    from labs.lab05_patterns.streaming import sse_events
    from shared.mockllm import tokens

    def leaves_after_two(upstream, disconnected, on_close=None):
        checks = {"n": 0}

        async def gone() -> bool:
            checks["n"] += 1
            return checks["n"] > 2

        return sse_events(upstream, gone, on_close=on_close)

    monkeypatch.setattr(gateway, "sse_events", leaves_after_two)
    messages = [{"role": "user", "content": "Summarize: streams cut perceived latency. Users see words sooner."}]
    with client.stream("POST", "/chat/stream", headers={"x-tenant-id": "acme"}, json={"messages": messages}) as r:
        text = "".join(r.iter_text())
    usage = client.get("/tenants/acme/usage").json()
    streamed = "".join(line.split('"text": "')[1].split('"}')[0] for line in text.splitlines() if '"text"' in line)
    assert "event: done" not in text and text.count("event: delta") == 2
    assert usage["requests"] == 1 and usage["tokens"] == tokens.count_messages(messages) + tokens.count(streamed)
    assert usage["cost_usd"] > 0


def test_concurrent_calls_cannot_overshoot_a_tenants_day(client, monkeypatch):
    """Twelve calls arrive together; each would use ~39 tokens and the day has 200. A budget that
    were only checked would let all twelve through (468 tokens); the holds admit what fits."""
    client.app.state.lab05.gateway.tenants.tenants["acme"].daily_tokens = 200
    real = llm.acomplete
    flying = {"now": 0, "most": 0}

    async def slow(messages, **kwargs):
        flying["now"] += 1
        flying["most"] = max(flying["most"], flying["now"])
        await asyncio.sleep(0.2)  # every call is in flight when the others are admitted
        flying["now"] -= 1
        return await real(messages, **kwargs)

    monkeypatch.setattr(llm, "acomplete", slow)
    text = "Summarize: quotas protect shared capacity. Each tenant gets a budget. Budgets reset daily."
    with ThreadPoolExecutor(12) as pool:
        replies = list(pool.map(lambda _: chat(client, text, headers={"x-tenant-id": "acme"}, max_tokens=20),
                                range(12)))
    assert flying["most"] >= 2, "calls were admitted while others were in flight"
    codes = sorted(r.status_code for r in replies)
    assert 200 in codes and 429 in codes and set(codes) == {200, 429}
    usage = client.get("/tenants/acme/usage").json()
    assert usage["tokens"] <= 200 and usage["held_in_flight"] == 0
    assert usage["requests"] == codes.count(200)
    refused = next(r for r in replies if r.status_code == 429)
    assert refused.headers["retry-after"] == "1", "tokens held by calls in flight come back soon"


def test_the_last_call_of_the_day_is_cut_short_not_billed_past_the_budget(client):
    text = "Summarize: quotas protect shared capacity. Each tenant gets a budget. Budgets reset daily."
    first = chat(client, text, headers={"x-tenant-id": "tiny"})
    body = first.json()
    assert first.status_code == 200 and body["finish_reason"] == "length" and body["max_tokens"] == 3
    assert body["usage"]["output_tokens"] <= 3
    usage = client.get("/tenants/tiny/usage").json()
    assert usage["tokens"] == 30 and usage["tokens_left"] == 0
    again = chat(client, "Summarize: one more call.", headers={"x-tenant-id": "tiny"})
    assert again.status_code == 429 and "used its 30 tokens" in again.json()["error"]["message"]
