"""Every fault header of the issue, sent as a plain x-mock-* header over real HTTP, does what it says."""

from __future__ import annotations

import json
import time

import httpx
import pytest

CHAT = {"model": "assistant", "messages": [{"role": "user", "content": "What is the capital of France?"}]}
LOOKUP = {"type": "function", "function": {"name": "lookup_order", "description": "Look up an order",
                                           "parameters": {"type": "object", "properties": {"order_id": {"type": "integer"}},
                                                          "required": ["order_id"]}}}


@pytest.fixture
def post(live_mock):
    with httpx.Client(base_url=f"{live_mock}/v1", timeout=10) as client:
        def send(headers: dict[str, str], body: dict | None = None, **kwargs) -> httpx.Response:
            return client.post("/chat/completions", json=body or CHAT, headers=headers, **kwargs)
        yield send


def _sse(response: httpx.Response) -> list[str]:
    return [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]


@pytest.mark.parametrize(("status", "type_", "code"), [(429, "rate_limit_error", "rate_limit_exceeded"),
                                                       (500, "server_error", None), (503, "server_error", "overloaded"),
                                                       (400, "invalid_request_error", "context_length_exceeded")])
def test_error_status(post, status, type_, code):
    response = post({"x-mock-error-status": str(status)})
    assert response.status_code == status
    assert response.json()["error"]["type"] == type_ and response.json()["error"]["code"] == code
    assert ("retry-after" in response.headers) == (status == 429)


def test_error_rate_is_seeded(post):
    def run() -> list[int]:
        return [post({"x-mock-error-rate": "0.3", "x-mock-error-status": "503", "x-mock-seed": str(i)}).status_code
                for i in range(60)]

    first = run()
    assert first == run() and 8 <= first.count(503) <= 28 and set(first) == {200, 503}


def test_latency(post):
    start = time.perf_counter()
    assert post({"x-mock-latency-ms": "250"}).status_code == 200
    assert time.perf_counter() - start >= 0.25


def test_ttft_and_tpot(live_mock):
    body = {**CHAT, "stream": True}
    arrivals = []
    start = time.perf_counter()
    with httpx.stream("POST", f"{live_mock}/v1/chat/completions", json=body, timeout=10,
                      headers={"x-mock-ttft-ms": "200", "x-mock-tpot-ms": "40"}) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                arrivals.append(time.perf_counter() - start)
    assert arrivals[0] >= 0.2
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert len(gaps) >= 2 and min(gaps) >= 0.03


def test_hang_lasts_until_the_client_gives_up(post):
    start = time.perf_counter()
    with pytest.raises(httpx.ReadTimeout):
        post({"x-mock-hang": "true"}, timeout=0.4)
    assert time.perf_counter() - start < 10, "the client gave up; the mock never answers a hang"


def test_malformed_rate(post):
    body = {**CHAT, "response_format": {"type": "json_object"}}

    def parses(response: httpx.Response) -> bool:
        try:
            json.loads(response.json()["choices"][0]["message"]["content"])
            return True
        except json.JSONDecodeError:
            return False

    assert parses(post({}, body))
    assert not parses(post({"x-mock-malformed-rate": "1"}, body))


def test_truncate_rate(post):
    whole = _sse(post({}, {**CHAT, "stream": True}))
    cut = _sse(post({"x-mock-truncate-rate": "1"}, {**CHAT, "stream": True}))
    assert whole[-1] == "[DONE]" and json.loads(whole[-2])["choices"][0]["finish_reason"] == "stop"
    assert "[DONE]" not in cut and len(cut) < len(whole)
    assert not any(json.loads(c)["choices"][0]["finish_reason"] for c in cut)


def test_bad_tool_rate(post):
    body = {"model": "assistant", "tools": [LOOKUP], "messages": [{"role": "user", "content": "Look up order 42"}]}
    good = post({}, body).json()["choices"][0]["message"]["tool_calls"][0]["function"]
    assert good == {"name": "lookup_order", "arguments": '{"order_id": 42}'}
    kinds = set()
    for seed in range(12):
        call = post({"x-mock-bad-tool-rate": "1", "x-mock-seed": str(seed)}, body).json()
        fn = call["choices"][0]["message"]["tool_calls"][0]["function"]
        try:
            json.loads(fn["arguments"])
            assert fn["name"] != "lookup_order"
            kinds.add("hallucinated name")
        except json.JSONDecodeError:
            kinds.add("invalid arguments")
    assert kinds == {"hallucinated name", "invalid arguments"}


def test_seed_header_equals_the_body_seed(post):
    body = {"model": "noisy", "temperature": 0.9, "n": 4, "messages": [{"role": "user", "content": "What is 14 * 16?"}]}
    by_header = post({"x-mock-seed": "5"}, body).content
    assert post({"x-mock-seed": "5"}, body).content == by_header
    assert post({}, {**body, "seed": 5}).json()["choices"] == json.loads(by_header)["choices"]
    assert post({"x-mock-seed": "6"}, body).json()["choices"] != json.loads(by_header)["choices"]


def test_stream_without_include_usage_has_no_usage_chunk(post):
    chunks = [json.loads(c) for c in _sse(post({}, {**CHAT, "stream": True}))[:-1]]
    assert all("usage" not in c and c["choices"] for c in chunks)
