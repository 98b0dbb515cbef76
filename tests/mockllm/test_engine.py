"""The engine's promises: determinism, seeded fault rates, prompt caching, the structured ladder,
self-consistency, sampling, and argument extraction."""

from __future__ import annotations

import collections
import json
import threading

import pytest
from fastapi.testclient import TestClient

from shared.mockllm.behaviours.schema_fill import fill
from shared.mockllm.cache import PromptCache, openai_boundaries
from shared.mockllm.engine import MockEngine, MockError, MockRequest
from shared.mockllm.server import create_app


def request(content, model="assistant", **body) -> MockRequest:
    messages = content if isinstance(content, list) else [{"role": "user", "content": content}]
    return MockRequest.from_openai({"model": model, "messages": messages, **body})


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from shared.config import get_settings

    with TestClient(create_app(get_settings(data_dir=tmp_path_factory.mktemp("eng")))) as c:
        yield c


def test_same_request_and_seed_is_byte_identical(client):
    body = {"model": "noisy", "seed": 11, "temperature": 0.9, "messages": [{"role": "user", "content": "What is 7 * 8?"}]}
    first = client.post("/v1/chat/completions", json=body).content
    assert client.post("/v1/chat/completions", json=body).content == first
    body["stream"] = True
    assert client.post("/v1/chat/completions", json=body).content == client.post("/v1/chat/completions",
                                                                                json=body).content
    anthropic = {"model": "assistant", "max_tokens": 20, "messages": [{"role": "user", "content": "6 * 9?"}]}
    seed = {"x-mock-seed": "11"}  # the Messages API has no seed field: the mock takes it as a header
    assert client.post("/v1/messages", json=anthropic, headers=seed).content == client.post(
        "/v1/messages", json=anthropic, headers=seed).content


def test_without_a_seed_repeats_differ_but_a_fresh_engine_replays_them():
    def run():
        engine = MockEngine()
        return [engine.complete(request("What is 19 * 21?", model="noisy", temperature=1.0))["choices"][0]
                ["message"]["content"] for _ in range(12)]

    first = run()
    assert len(set(first)) > 1 and run() == first


def test_thirty_percent_faults_are_the_same_thirty_percent_every_run():
    def failures() -> list[int]:
        engine, out = MockEngine(), []
        for i in range(400):
            try:
                engine.complete(request(f"question {i}", mock={"error_rate": 0.3, "error_status": 429}, seed=7))
            except MockError as exc:
                assert exc.status == 429 and exc.headers["retry-after"] == "1"
                out.append(i)
        return out

    first = failures()
    assert first == failures()
    assert abs(len(first) / 400 - 0.3) < 0.06


@pytest.mark.parametrize("option", ["malformed_rate", "bad_tool_rate"])
def test_corruption_rates_are_seeded(option):
    tools = [{"type": "function", "function": {"name": "lookup", "description": "look up an order",
                                               "parameters": {"type": "object", "properties": {"id": {"type": "integer"}}}}}]
    engine = MockEngine()
    bad = 0
    for i in range(300):
        body = engine.complete(request(f"look up order {i}" if option == "bad_tool_rate" else "What is 2 + 2? Reply in JSON.",
                                       tools=tools if option == "bad_tool_rate" else [], seed=i, mock={option: 0.25}))
        message = body["choices"][0]["message"]
        if option == "bad_tool_rate":
            call = message["tool_calls"][0]["function"]
            try:
                ok = call["name"] == "lookup" and json.loads(call["arguments"]) == {"id": i}
            except json.JSONDecodeError:
                ok = False
        else:
            try:
                ok = json.loads(message["content"]) == {"answer": "4"}
            except json.JSONDecodeError:
                ok = False
        bad += not ok
    assert 0.18 < bad / 300 < 0.32


def test_prompt_cache_blocks_ttl_and_lru():
    now = [0.0]
    cache = PromptCache(ttl_s=300, max_entries=1000, clock=lambda: now[0])
    ids = list(range(5000))
    assert cache.use(ids, openai_boundaries(len(ids))).read == 0
    assert cache.use(ids[:1500], openai_boundaries(1500)).read == 1408  # 1024 + 3 * 128
    assert cache.use(ids[:1000], openai_boundaries(1000)).read == 0  # below 1,024 nothing is cached
    assert cache.use([7, *ids[1:3000]], openai_boundaries(3000)).read == 0  # one token differs at the start
    now[0] += 299
    assert cache.use(ids, openai_boundaries(len(ids))).read > 0  # a hit refreshes the TTL ...
    now[0] += 299
    assert cache.use(ids, openai_boundaries(len(ids))).read > 0
    now[0] += 301
    assert cache.use(ids, openai_boundaries(len(ids))).read == 0  # ... and expiry forgets


def test_prompt_cache_is_thread_safe():
    cache = PromptCache()
    prompts = [[p] * 2000 for p in range(8)]
    results: list[int] = []

    def worker(p: list[int]) -> None:
        for _ in range(20):
            results.append(cache.use(p, openai_boundaries(len(p))).read)

    threads = [threading.Thread(target=worker, args=(p,)) for p in prompts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(0) == 8 and results.count(1920) == 8 * 19


def _valid(raw: str) -> bool:
    text = raw.strip().removeprefix("```json").removesuffix("```")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return False
    return isinstance(value, dict) and isinstance(value.get("name"), str) and isinstance(value.get("age"), int)


def test_structured_ladder_orders_failure_rates():
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"]}
    tool = {"type": "function", "function": {"name": "Person", "parameters": schema}}
    engine, n = MockEngine(), 300
    levels = {
        "prompt": {"messages_system": f"Reply in JSON matching {json.dumps(schema)}"},
        "json_mode": {"response_format": {"type": "json_object"}, "messages_system": json.dumps(schema)},
        "tools": {"tools": [tool], "tool_choice": {"type": "function", "function": {"name": "Person"}}},
        "strict": {"response_format": {"type": "json_schema",
                                       "json_schema": {"name": "P", "strict": True, "schema": schema}}},
    }
    rates = {}
    for level, extra in levels.items():
        extra = dict(extra)
        system = extra.pop("messages_system", "Extract the person.")
        failed = 0
        for i in range(n):
            messages = [{"role": "system", "content": system},
                        {"role": "user", "content": f"Case {i}: Ada Lovelace is {20 + i} years old"}]
            msg = engine.complete(request(messages, model="fallible", **extra))["choices"][0]["message"]
            raw = msg["tool_calls"][0]["function"]["arguments"] if msg.get("tool_calls") else msg["content"]
            failed += not _valid(raw)
        rates[level] = failed / n
    assert rates["prompt"] > rates["json_mode"] > rates["tools"] > rates["strict"] == 0
    assert abs(rates["prompt"] - 0.30) < 0.08 and abs(rates["json_mode"] - 0.12) < 0.06


def test_self_consistency_voting_lifts_noisy_accuracy():
    engine, single, voted, n = MockEngine(), 0, 0, 60
    for q in range(n):
        a, b = 13 + q, 7 + 2 * q
        body = engine.complete(request(f"What is {a} * {b}?", model="noisy", n=7, temperature=0.8, seed=q,
                                       mock={"p": 0.6}))
        answers = [c["message"]["content"].rsplit("The answer is ", 1)[1].rstrip(".") for c in body["choices"]]
        single += answers[0] == str(a * b)
        voted += collections.Counter(answers).most_common(1)[0][0] == str(a * b)
    assert 0.4 < single / n < 0.8
    assert voted / n > single / n + 0.15


def test_noisy_at_temperature_zero_is_greedy():
    body = MockEngine().complete(request("What is 31 * 3?", model="noisy", n=5, temperature=0))
    assert len({c["message"]["content"] for c in body["choices"]}) == 1


def test_sampling_varies_wording_not_the_answer():
    engine = MockEngine()
    texts = {engine.complete(request("What is 6 * 7?", temperature=1.0, seed=s))["choices"][0]["message"]["content"]
             for s in range(12)}
    assert len(texts) > 1 and all("42" in t for t in texts)
    assert engine.complete(request("What is 6 * 7?"))["choices"][0]["message"]["content"] == "42"


def test_reasoning_tokens_are_billed_inside_completion_tokens():
    usage = MockEngine().complete(request("What is 2 + 2?", model="reasoning", reasoning_effort="high"))["usage"]
    reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
    assert reasoning > 1000 and usage["completion_tokens"] == reasoning + 1


@pytest.mark.parametrize(("text", "schema", "expected"), [
    ("What's the weather in Buenos Aires today?", {"city": {"type": "string"}}, {"city": "Buenos Aires"}),
    ("Fly from Paris to New York on 2026-05-04",
     {"origin": {"type": "string"}, "destination": {"type": "string"}, "date": {"type": "string"}},
     {"origin": "Paris", "destination": "New York", "date": "2026-05-04"}),
    ("How many yen is 1,500 euros?", {"amount": {"type": "number"}, "from_currency": {"type": "string"},
                                      "to_currency": {"type": "string"}},
     {"amount": 1500.0, "from_currency": "EUR", "to_currency": "JPY"}),
    ("Multiply 12 by 3", {"a": {"type": "integer"}, "b": {"type": "integer"}}, {"a": 12, "b": 3}),
    ("Temperature in Oslo in fahrenheit", {"location": {"type": "string"}, "units": {"type": "string"}},
     {"location": "Oslo", "units": "fahrenheit"}),
])
def test_arguments_are_read_from_the_text(text, schema, expected):
    assert fill({"type": "object", "properties": schema}, text) == expected


def test_bad_requests_are_4xx_in_each_api_shape(client):
    cases = [("/v1/chat/completions", {"model": "assistant", "messages": []}),
             ("/v1/chat/completions", {"model": "assistant", "messages": [{"content": "no role"}]}),
             ("/v1/chat/completions", {"model": "assistant", "messages": [{"role": "user", "content": "x"}],
                                       "mock": {"error_rate": "lots"}}),
             ("/v1/chat/completions", {"model": "assistant", "messages": [{"role": "user", "content": "x"}],
                                       "temperature": "hot"}),
             ("/v1/chat/completions", {"model": "assistant", "messages": [{"role": "user", "content": "x"}],
                                       "mock": {"latency_ms": "inf"}}),  # would sleep forever
             ("/v1/chat/completions", {"model": "assistant", "messages": [{"role": "user", "content": "x"}],
                                       "mock": {"error_rate": 1.5}}),
             ("/v1/chat/completions", {"model": "assistant", "messages": [{"role": "user", "content": "x"}],
                                       "mock": {"error_status": 200}}),
             ("/v1/chat/completions", {"model": "assistant", "messages": [{"role": "user", "content": "x"}],
                                       "mock": {"fail_first": "1e400"}}),
             ("/v1/chat/completions", {"model": "assistant", "messages": [
                 {"role": "assistant", "content": None, "tool_calls": "get_weather"}]}),
             ("/v1/chat/completions", {"model": "assistant", "messages": [
                 {"role": "assistant", "content": None, "tool_calls": [{"function": "get_weather"}]}]}),
             ("/v1/chat/completions", {"model": "assistant", "messages": [{"role": "user", "content": {"a": 1}}]}),
             ("/v1/chat/completions", {"model": "assistant", "messages": [{"role": "user", "content": "x"}], "n": 0}),
             ("/v1/chat/completions", {"model": "assistant", "messages": [{"role": "user", "content": "x"}], "n": 500}),
             ("/v1/chat/completions", {"model": "assistant", "messages": [{"role": "user", "content": "x"}],
                                       "max_tokens": -5}),
             ("/v1/chat/completions", {"model": "assistant", "messages": [{"role": "user", "content": "x"}],
                                       "temperature": 9}),
             ("/v1/embeddings", {"model": "embedding", "input": [True, False]}),
             ("/v1/embeddings", {"model": "embedding", "input": [[10 ** 9]]}),
             ("/v1/embeddings", {"model": "embedding", "input": "x", "encoding_format": "hex"}),
             ("/v1/embeddings", {"model": "embedding", "input": "x", "dimensions": 3}),
             ("/v1/messages", {"model": "assistant", "messages": [{"role": "user", "content": "x"}]}),
             ("/v1/messages", {"model": "assistant", "max_tokens": 5, "messages": [{"role": "robot", "content": "x"}]}),
             ("/v1/messages", {"model": "assistant", "max_tokens": 5, "messages": [{"role": "user", "content": 5}]})]
    raw = b'{"model": "assistant", "seed": Infinity, "messages": [{"role": "user", "content": "x"}]}'
    for path in ("/v1/chat/completions", "/v1/messages", "/v1/embeddings"):
        cases.append((path, raw))  # Python's json would read it; JSON has no Infinity
    for path, body in cases:
        response = client.post(path, content=body, headers={"content-type": "application/json"}) if isinstance(
            body, bytes) else client.post(path, json=body)
        assert 400 <= response.status_code < 500, (path, body, response.text)
        error = response.json()["error"]
        assert error["message"] and error["type"]
        if path == "/v1/messages":
            assert response.json()["type"] == "error"


def test_recursive_schemas_end_in_a_leaf(client):
    """A type that contains itself (a tree, a linked list) is filled one level deep, then ends, as a model would."""
    from pydantic import BaseModel

    class Node(BaseModel):
        name: str
        children: list[Node] = []

    class Employee(BaseModel):
        name: str
        manager: Employee | None = None

    for model, expected in [(Node, {"name": "Grace Hopper", "children": []}),
                            (Employee, {"name": "Grace Hopper", "manager": None})]:
        body = {"model": "assistant", "messages": [{"role": "user", "content": "Grace Hopper"}],
                "response_format": {"type": "json_schema", "json_schema": {"name": model.__name__,
                                                                           "schema": model.model_json_schema()}}}
        response = client.post("/v1/chat/completions", json=body)
        assert response.status_code == 200, response.text
        value = json.loads(response.json()["choices"][0]["message"]["content"])
        assert value == expected and model.model_validate(value)
    cyclic = {"$ref": "#/$defs/A", "$defs": {"A": {"$ref": "#/$defs/B"}, "B": {"$ref": "#/$defs/A"}}}
    body["response_format"]["json_schema"]["schema"] = cyclic
    assert client.post("/v1/chat/completions", json=body).status_code < 500


def test_context_window_is_enforced():
    with pytest.raises(MockError) as info:
        MockEngine().complete(request("word " * 300, mock={"context_window": 100}))
    assert info.value.status == 400 and info.value.code == "context_length_exceeded"


def test_anthropic_tool_results_reach_the_behaviour_as_tool_messages():
    from shared.mockllm import anthropic_api

    req = anthropic_api.request({"model": "assistant", "max_tokens": 50, "messages": [
        {"role": "user", "content": "weather in Rome?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                           "input": {"city": "Rome"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True,
                                      "content": [{"type": "text", "text": "service down"}]}]}]})
    assert [m["role"] for m in req.messages] == ["user", "assistant", "tool"]
    assert json.loads(req.messages[2]["content"]) == {"error": "service down"}
    body = MockEngine().complete(req)
    assert "service down" in body["content"][0]["text"]


def _json_values():
    from hypothesis import strategies as st

    leaves = st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=8) | st.sampled_from(
        ["user", "tool", "json_schema", "json_object", "function", "auto", "required", "text", "tool_use"])
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["role", "content", "type", "name", "function", "parameters", "properties", "schema",
                         "json_schema", "input", "input_schema", "tool_use_id", "text", "enum", "items", "id"]),
        inner, max_size=4), max_leaves=12)


def test_odd_shapes_never_5xx(client):
    """Property: whatever JSON lands in the request's fields, the answer is a 2xx or a 4xx."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    fields = st.fixed_dictionaries({}, optional={
        "messages": _json_values(), "tools": _json_values(), "tool_choice": _json_values(),
        "response_format": _json_values(), "system": _json_values(), "max_tokens": _json_values(),
        "n": _json_values(), "mock": _json_values(), "stream": st.booleans(), "input": _json_values(),
        "dimensions": _json_values(), "encoding_format": _json_values(), "temperature": _json_values(),
        "seed": _json_values()})

    @settings(max_examples=300, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(body=fields, path=st.sampled_from(["/v1/chat/completions", "/v1/messages", "/v1/embeddings",
                                              "/v1/messages/count_tokens"]),
           user=st.booleans())
    def probe(body, path, user):
        if user:  # often a valid request, so the odd field is what gets exercised
            body = {"messages": [{"role": "user", "content": "weather in Paris and 2 + 2?"}], "max_tokens": 50,
                    "input": "reset my password", **{k: v for k, v in body.items() if k not in ("messages", "input")}}
        response = client.post(path, json={"model": "assistant", **body})
        assert response.status_code < 500, (path, body, response.text[:300])
        if response.status_code >= 400:  # in the API's own error shape
            error = response.json()
            assert error["type"] == "error" if path.startswith("/v1/messages") else "message" in error["error"]

    probe()


def test_agent_loop_recovers_from_hallucinated_tool_calls():
    """An agent loop with 50% bad tool calls (wrong name or broken JSON): each rejection goes back as a
    tool error and the model calls again, so most runs end with an answer from the real result."""
    tool = {"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city",
                                             "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                            "required": ["city"]}}}
    engine, retried, answered = MockEngine(), 0, 0
    for run in range(40):
        messages = [{"role": "user", "content": f"Weather in Paris? (run {run})"}]
        for _step in range(6):
            body = engine.complete(request(messages, tools=[tool], mock={"bad_tool_rate": 0.5}))
            message = body["choices"][0]["message"]
            messages.append(message)
            if not message.get("tool_calls"):
                break
            for call in message["tool_calls"]:
                try:
                    args = json.loads(call["function"]["arguments"])
                    result = ({"temp_c": 21, "city": args["city"]} if call["function"]["name"] == "get_weather"
                              else {"error": f"unknown tool {call['function']['name']}"})
                except json.JSONDecodeError:
                    result = {"error": "invalid JSON arguments"}
                retried += "error" in result
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": json.dumps(result)})
        final = messages[-1]
        assert final["role"] == "assistant" and final["content"] and not final.get("tool_calls")
        if "temp_c: 21" in final["content"]:
            answered += 1
            assert "error" not in final["content"]
        else:  # it gives up after three rejected rounds in a row, and says why
            assert final["content"].count("reported an error") == 3
    assert 10 < retried < 40
    assert answered >= 30  # 1 - 0.5^3 of the runs, give or take


def test_server_defaults_headers_and_body_layer(monkeypatch, tmp_path):
    """MOCK_* env sets server defaults; an x-mock-* header overrides them; the body's "mock" beats both."""
    import time

    from shared.config import get_settings

    monkeypatch.setenv("MOCK_ERROR_STATUS", "503")
    monkeypatch.setenv("MOCK_LATENCY_MS", "150")
    body = {"model": "assistant", "messages": [{"role": "user", "content": "What is 1 + 1?"}]}
    with TestClient(create_app(get_settings(data_dir=tmp_path))) as c:
        start = time.perf_counter()
        assert c.post("/v1/chat/completions", json=body).status_code == 503
        assert time.perf_counter() - start >= 0.15
        assert c.post("/v1/chat/completions", json=body, headers={"x-mock-error-rate": "0"}).status_code == 200
        overridden = {**body, "mock": {"error_status": 429}}
        response = c.post("/v1/chat/completions", json=overridden, headers={"x-mock-error-status": "500"})
        assert response.status_code == 429 and response.headers["retry-after"] == "1"


@pytest.mark.parametrize("stream", [False, True])
def test_reasoning_tokens_take_decode_time_before_the_first_visible_token(stream):
    """With a time per output token set, a reasoning model's hidden tokens delay the first visible one
    (and, unstreamed, the whole answer): higher effort is slower, as on a real reasoning model."""
    def plan(effort):
        req = request("What is 2 + 2?", model="reasoning", reasoning_effort=effort, stream=stream,
                      mock={"tpot_ms": 1})
        return MockEngine().plan(req)

    low, high = plan("low"), plan("high")
    thinking = high.body["usage"]["completion_tokens_details"]["reasoning_tokens"] if not stream else None
    assert high.ttft_s > low.ttft_s > 0
    if not stream:
        assert high.latency_s == pytest.approx(thinking * 0.001) and high.latency_s > low.latency_s
    plain = MockEngine().plan(request("What is 2 + 2?", mock={"tpot_ms": 1}, stream=stream))
    assert plain.ttft_s == 0  # no reasoning, no hidden decode time
