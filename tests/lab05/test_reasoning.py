"""Reasoning effort: hidden tokens grow with effort, are billed as output, and reach the mock from /chat."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from labs.lab05_patterns import reasoning
from labs.lab05_patterns.app import create_app
from shared.pricing import price_for


def test_reasoning_tokens_cost_and_modelled_latency_grow_with_effort(model):
    rows = reasoning.effort_sweep(model, "What is 17 * 23?", samples=2, tpot_ms=10, ttft_ms=100)
    assert [r.effort for r in rows] == list(reasoning.EFFORTS)
    tokens = [r.reasoning_tokens for r in rows]
    assert tokens == sorted(tokens) and tokens[-1] > 50 * tokens[0]
    assert all(r.answer == "391" and r.visible_tokens == 1 for r in rows)
    p = price_for("openai/o3-mini")
    for r in rows:
        expected = (r.input_tokens * p.input + r.visible_tokens * p.output + r.reasoning_tokens * p.reasoning) / 1e6
        assert r.cost_usd == pytest.approx(expected)
        assert r.modelled_latency_s == pytest.approx((100 + 10 * (r.reasoning_tokens + r.visible_tokens)) / 1000)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from shared.config import get_settings

    with TestClient(create_app(get_settings(data_dir=tmp_path_factory.mktemp("lab05-reasoning"))),
                    raise_server_exceptions=False) as c:
        yield c


def test_chat_passes_reasoning_effort_to_a_reasoning_model(client):
    def used(effort):
        body = {"model": "mock/reasoning", "reasoning_effort": effort, "seed": 1,
                "messages": [{"role": "user", "content": "What is 17 * 23?"}]}
        r = client.post("/chat", json=body)
        assert r.status_code == 200, r.text
        return r.json()["usage"]["reasoning_tokens"]

    assert used("minimal") < used("low") < used("medium") < used("high")


def test_bad_effort_requests_are_4xx(client):
    msg = [{"role": "user", "content": "hi"}]
    assert client.post("/chat", json={"messages": msg, "reasoning_effort": "max"}).status_code == 422
    r = client.post("/reasoning/effort", json={"question": "hi", "price_as": "acme/nothing"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "unknown_model"
    assert client.post("/reasoning/effort", json={"question": "hi", "samples": 11}).status_code == 422
