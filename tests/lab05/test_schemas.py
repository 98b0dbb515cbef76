"""Request bodies say when they are wrong (422 naming the field), and no request does unbounded work.

Issue 25: a /tools/run naming 20,000 tools stalled /healthz for 11 s. Every list and string is now
capped, and the CPU-heavy part of a chat (tokenizer, PII regexes) runs off the event loop.
"""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from labs.lab05_patterns import gateway
from labs.lab05_patterns.app import create_app
from labs.lab05_patterns.tools import TOOLS

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("path, body, field", [
    ("/chat", {"messages": HI, "temprature": 0.2}, "temprature"),
    ("/chat", {"messages": [{"role": "user", "content": "hi", "name": "ada"}]}, "name"),
    ("/sampling", {"logits": [1, 2], "top_kk": 3}, "top_kk"),
    ("/extract", {"text": "Ada", "mock": {"eror_rate": 1}}, "eror_rate"),
    ("/tools/run", {"question": "x", "tool": ["calculator"]}, "tool"),
    ("/resilient", {"prompt": "x", "primary_fault": {}}, "primary_fault"),
    ("/orchestrate/sequential", {"inputs": ["x"], "samples": 3}, "samples"),
    ("/cost/cache", {"prefix_tokens": 1, "hitrate": 0.5}, "hitrate"),
])
def test_an_unknown_field_is_a_422_that_names_it(client, path, body, field):
    r = client.post(path, json=body)
    assert r.status_code == 422, r.text
    assert field in r.json()["error"]["message"]


@pytest.mark.parametrize("path, raw", [
    ("/sampling", b'{"logits": [1.0, NaN]}'),
    ("/sampling", b'{"logits": [1.0, 2.0], "temperature": Infinity}'),
    ("/chat", b'{"messages": [{"role": "user", "content": "\\ud800"}]}'),
    ("/extract", b'{"text": "Ada \\udfff Lovelace"}'),
])
def test_nan_and_lone_surrogates_are_422s_not_500s(client, path, raw):
    r = client.post(path, content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text


@pytest.mark.parametrize("path, body", [
    ("/tools/run", {"question": "x", "tools": ["calculator"] * 20_000}),
    ("/tools/run", {"question": "x", "tools": [*TOOLS, "calculator"]}),
    ("/tools/run", {"question": "x", "tools": ["c" * 41]}),
    ("/tools/run", {"question": "x" * 2001}),
    ("/chat", {"messages": HI * 65}),
    ("/chat", {"messages": [{"role": "user", "content": "a" * 100_001}]}),
    ("/sampling", {"logits": [0.0] * 1001}),
    ("/resilient", {"prompt": "x", "models": ["mock/assistant"] * 5}),
    ("/orchestrate/map_reduce", {"inputs": ["x"] * 17}),
    ("/cost/tokenize", {"text": "a" * 100_001}),
])
def test_over_the_cap_is_a_422(client, path, body):
    r = client.post(path, json=body)
    assert r.status_code == 422 and r.json()["error"]["type"] == "validation_error", r.text[:300]


def test_at_the_cap_is_served(client):
    r = client.post("/tools/run", json={"question": "What is the weather in Paris?", "tools": list(TOOLS)})
    assert r.status_code == 200 and r.json()["answer"]


def test_healthz_answers_while_a_large_prompt_is_being_prepared(client, monkeypatch):
    """The chat's CPU step is held until /healthz has answered. Run on the event loop, it would hold
    the loop too, /healthz could not answer, and the hold would end by its timeout instead."""
    entered, release = threading.Event(), threading.Event()
    ended = {}
    real = gateway.mask_messages

    def held(messages):
        entered.set()
        ended["released_by_the_test"] = release.wait(15)
        return real(messages)

    monkeypatch.setattr(gateway, "mask_messages", held)
    body = {"messages": [{"role": "user", "content": "word " * 1_600} for _ in range(64)]}  # ~100k tokens
    done = {}
    big = threading.Thread(target=lambda: done.setdefault("chat", client.post("/chat", json=body)))
    big.start()
    try:
        assert entered.wait(15), "the chat reached its CPU step"
        health = client.get("/healthz")
        assert health.status_code == 200 and "chat" not in done
    finally:
        release.set()
        big.join(30)
    assert ended["released_by_the_test"], "/healthz answered while the large request was still running"
    assert done["chat"].status_code == 200 and done["chat"].json()["usage"]["input_tokens"] > 90_000
